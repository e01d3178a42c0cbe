//! `read_file`: lets an agent read text files, only under the directories its YAML names.
//! `args: {dirs: [docs, /srv/wiki], max_bytes: 65536}`; the model passes a path relative to one of
//! them. Paths are resolved (symlinks too) before the check, so `..` and links cannot escape.

use std::path::PathBuf;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolRegistry};

const DEFAULT_MAX_BYTES: u64 = 64 * 1024;

pub fn register(registry: &mut ToolRegistry) {
    registry.register(
        "read_file",
        Arc::new(|args: &Value| {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Settings {
                dirs: Vec<String>,
                max_bytes: Option<u64>,
            }
            let settings: Settings = serde_json::from_value(args.clone())
                .map_err(|e| format!("args: {e} (expected {{dirs: [..], max_bytes}})"))?;
            if settings.dirs.is_empty() {
                return Err("args.dirs: name at least one directory".into());
            }
            let mut dirs = Vec::new();
            for dir in &settings.dirs {
                let real = std::fs::canonicalize(dir)
                    .map_err(|e| format!("args.dirs: '{dir}' cannot be used: {e}"))?;
                dirs.push(real);
            }
            Ok(Arc::new(ReadFile {
                dirs,
                max_bytes: settings.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
            }) as Arc<dyn Tool>)
        }),
    );
}

pub struct ReadFile {
    dirs: Vec<PathBuf>,
    max_bytes: u64,
}

#[derive(Deserialize, JsonSchema)]
struct ReadFileArgs {
    /// Path of the file, relative to one of the allowed directories.
    path: String,
}

impl ReadFile {
    fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        let requested = PathBuf::from(path);
        for dir in &self.dirs {
            let candidate = if requested.is_absolute() {
                requested.clone()
            } else {
                dir.join(&requested)
            };
            if let Ok(real) = std::fs::canonicalize(&candidate)
                && real.starts_with(dir)
            {
                return Ok(real);
            }
        }
        Err(format!(
            "'{path}' is not a readable file under the allowed directories"
        ))
    }
}

impl Tool for ReadFile {
    fn name(&self) -> &str {
        "read_file"
    }
    fn description(&self) -> &str {
        "Reads a text file from the project's allowed directories and returns its content."
    }
    fn parameters(&self) -> Value {
        super::builtins::schema_of::<ReadFileArgs>()
    }
    fn run<'a>(&'a self, args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(async move {
            let args: ReadFileArgs =
                serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
            let path = self.resolve(&args.path)?;
            let max = self.max_bytes;
            let (bytes, size) =
                tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, u64), String> {
                    use std::io::Read;
                    // Checked before opening: opening a FIFO blocks until a writer appears, and
                    // a device may never end; only regular files are read.
                    let before = std::fs::metadata(&path).map_err(|e| e.to_string())?;
                    if !before.is_file() {
                        return Err("not a regular file".to_string());
                    }
                    let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                    let meta = file.metadata().map_err(|e| e.to_string())?;
                    if !meta.is_file() {
                        return Err("not a regular file".to_string());
                    }
                    let mut bytes = Vec::new();
                    file.take(max)
                        .read_to_end(&mut bytes)
                        .map_err(|e| e.to_string())?;
                    Ok((bytes, meta.len()))
                })
                .await
                .map_err(|e| e.to_string())??;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Ok(json!({"path": args.path, "content": text, "truncated": size > max, "size": size}))
        })
    }
}
