//! `agents/*.yaml` loading: a valid tree, and every error naming
//! the file and the field. Also keeps `agents/schema.json` in step with the Rust types.

mod support;

use std::path::Path;

use support::project;

use adk_llm_proxy::agent::config::{AgentClass, load_dir, schema};
use adk_llm_proxy::tool::ToolRegistry;

fn load(root: &Path) -> Result<adk_llm_proxy::agent::config::AgentTree, String> {
    load_dir(
        &root.join("agents"),
        &root.join("prompts"),
        &ToolRegistry::with_builtins(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_valid_tree_loads_with_prompts_tools_and_parents() {
    let root = project(
        "valid",
        &[
            ("prompts/planner.md", "Plan the answer to: {question?}"),
            (
                "agents/planner.yaml",
                "name: planner\nagent_class: SequentialAgent\ndescription: plan then answer\nsub_agents:\n  - name: plan_step\n  - config_path: steps/answer.yaml\n",
            ),
            (
                "agents/plan_step.yaml",
                "name: plan_step\ninstruction: file:prompts/planner.md\nstream: reasoning\noutput_key: plan\n",
            ),
            (
                "agents/steps/answer.yaml",
                "name: answer_step\ntools:\n  - name: current_time\n    args: { timezone: UTC }\ngenerate_content_config: { temperature: 0.2 }\n",
            ),
            (
                "agents/assistant.yaml",
                "name: assistant\nmodel: ollama/llama3.2\ninstruction: You are helpful.\ntools: [{ name: current_time }]\n",
            ),
        ],
    );
    let tree = load(&root).expect("valid tree");
    assert_eq!(tree.roots, vec!["assistant", "planner"]);
    let planner = &tree.agents["planner"];
    assert_eq!(planner.config.agent_class, AgentClass::SequentialAgent);
    assert_eq!(planner.children, vec!["plan_step", "answer_step"]);
    assert_eq!(
        tree.agents["answer_step"].parent.as_deref(),
        Some("planner")
    );
    assert_eq!(
        tree.agents["plan_step"].instruction.as_deref(),
        Some("Plan the answer to: {question?}")
    );
    assert_eq!(tree.agents["answer_step"].tools[0].name(), "current_time");
    assert_eq!(
        tree.agents["answer_step"]
            .config
            .generate_content_config
            .as_ref()
            .and_then(|c| c.get("temperature"))
            .and_then(|t| t.as_f64()),
        Some(0.2)
    );
}

/// (case name, files to write, substrings the error must contain)
type ErrorCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn every_error_names_file_and_field() {
    let cases: &[ErrorCase] = &[
        (
            "unknown-field",
            &[("agents/a.yaml", "name: a\ninstructions: typo\n")],
            &["a.yaml", "instructions"],
        ),
        (
            "unknown-tool",
            &[("agents/a.yaml", "name: a\ntools: [{ name: teleport }]\n")],
            &["a.yaml", "tools[0]", "teleport"],
        ),
        (
            "bad-tool-args",
            &[(
                "agents/a.yaml",
                "name: a\ntools: [{ name: current_time, args: { timezone: Mars/Base } }]\n",
            )],
            &["a.yaml", "tools[0]", "timezone"],
        ),
        (
            "missing-prompt",
            &[(
                "agents/a.yaml",
                "name: a\ninstruction: file:prompts/nope.md\n",
            )],
            &["a.yaml", "instruction", "nope.md"],
        ),
        (
            "unknown-sub-agent",
            &[("agents/a.yaml", "name: a\nsub_agents: [{ name: ghost }]\n")],
            &["a.yaml", "sub_agents[0]", "ghost"],
        ),
        (
            "duplicate",
            &[
                ("agents/a.yaml", "name: same\n"),
                ("agents/b.yaml", "name: same\n"),
            ],
            &["b.yaml", "name", "a.yaml"],
        ),
        (
            "two-parents",
            &[
                ("agents/p1.yaml", "name: p1\nsub_agents: [{ name: kid }]\n"),
                ("agents/p2.yaml", "name: p2\nsub_agents: [{ name: kid }]\n"),
                ("agents/kid.yaml", "name: kid\n"),
            ],
            &["kid.yaml", "p1", "p2"],
        ),
        (
            "cycle",
            &[
                ("agents/x.yaml", "name: x\nsub_agents: [{ name: y }]\n"),
                ("agents/y.yaml", "name: y\nsub_agents: [{ name: x }]\n"),
            ],
            &["sub_agents", "cycle"],
        ),
        (
            "workflow-with-model",
            &[
                (
                    "agents/w.yaml",
                    "name: w\nagent_class: LoopAgent\nmodel: x/y\nsub_agents: [{ name: w2 }]\n",
                ),
                ("agents/w2.yaml", "name: w2\n"),
            ],
            &["w.yaml", "model"],
        ),
        (
            "iterations-on-llm",
            &[("agents/a.yaml", "name: a\nmax_iterations: 3\n")],
            &["a.yaml", "max_iterations"],
        ),
        (
            "bad-class",
            &[("agents/a.yaml", "name: a\nagent_class: SwarmAgent\n")],
            &["a.yaml", "SwarmAgent"],
        ),
    ];
    for (name, files, needles) in cases {
        let root = project(name, files);
        let error = match load(&root) {
            Ok(_) => panic!("{name}: must fail"),
            Err(error) => error,
        };
        for needle in *needles {
            assert!(
                error.contains(needle),
                "{name}: '{needle}' missing in: {error}"
            );
        }
    }
}

#[test]
fn committed_schema_matches_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/schema.json");
    let generated = serde_json::to_string_pretty(&schema()).expect("schema") + "\n";
    if std::env::var("UPDATE_SCHEMA").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "agents/schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --test agent_loader` and commit it"
    );
}
