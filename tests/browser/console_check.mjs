// The console in a real browser: headless Chromium (Debian's `chromium`) driven by
// playwright-core, against the proxy binary with the scripted upstream (tests/console_browser.rs
// starts both). Opens Live, runs `planner` from the playground in a second tab, sees the request
// arrive in Live, opens its session from there, finds the plan and the answer as separate steps
// with their authors, and opens `router`'s tree. Saves a screenshot of each view.
//   node console_check.mjs BASE_URL SHOT_DIR
// Exits non-zero with the failing check's message.
import { check, launch } from "./browser.mjs";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: console_check.mjs BASE_URL SHOT_DIR");
  process.exit(2);
}

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const live = await context.newPage();
const errors = [];
live.on("pageerror", (e) => errors.push(e.message));
try {
  await live.goto(base + "/console#/live", { waitUntil: "domcontentloaded" });
  await live.locator('body[data-following="live"]').waitFor({ state: "attached", timeout: 10000 });
  check((await live.locator("nav a.active").innerText()) === "Live", "Live is the first view");

  // The playground, in a second tab: run `planner`.
  const play = await context.newPage();
  play.on("pageerror", (e) => errors.push(e.message));
  await play.goto(base + "/console#/playground", { waitUntil: "domcontentloaded" });
  await play.locator("#play-model option").first().waitFor({ state: "attached", timeout: 10000 });
  const options = await play.locator("#play-model option").allInnerTexts();
  check(options.includes("planner") && options.includes("router"), `the playground lists the agents: ${options}`);
  await play.selectOption("#play-model", "planner");
  await play.fill("#play-input", "How do I say hello?");
  await play.click("#play-send");
  await play.locator(".bubble.assistant .answer", { hasText: "Hello from the planner" }).waitFor({ timeout: 10000 });
  const reasoning = await play.locator(".bubble.assistant .reasoning").innerText();
  check(reasoning.includes("1. Say hello"), `the plan streams apart, as reasoning: ${reasoning}`);
  await play.locator("#open-session").waitFor({ timeout: 10000 });
  await play.screenshot({ path: `${shots}/console-playground.png`, fullPage: true });

  // Live saw it.
  const row = live.locator("#live-rows tr", { hasText: "planner" }).first();
  await row.waitFor({ timeout: 10000 });
  const rowText = await row.innerText();
  check(rowText.includes("200") && rowText.includes("completed"), `the Live row: ${rowText}`);
  await live.screenshot({ path: `${shots}/console-live.png`, fullPage: true });

  // Its session, opened from Live: the plan and the answer are separate steps with authors.
  await row.click();
  await live.locator("#timeline .event").first().waitFor({ timeout: 10000 });
  const authors = await live.locator("#timeline .event").evaluateAll((nodes) => nodes.map((n) => n.dataset.author));
  check(JSON.stringify(authors) === JSON.stringify(["user", "planning_step", "answering_step"]), `timeline authors: ${authors}`);
  const plan = await live.locator('#timeline .event[data-author="planning_step"]').innerText();
  check(plan.includes("1. Say hello"), `the plan step: ${plan}`);
  const answer = live.locator('#timeline .event.answer[data-author="answering_step"]');
  check((await answer.innerText()).includes("Hello from the planner"), "the answer step is marked as the answer");
  const next = await live.locator("#next-agent").innerText();
  check(next.length > 0, "the next agent is shown");
  await live.screenshot({ path: `${shots}/console-session.png`, fullPage: true });

  // router's tree.
  await live.goto(base + "/console#/agents?name=router", { waitUntil: "domcontentloaded" });
  await live.locator('.tree [data-agent="router"]').waitFor({ timeout: 10000 });
  const tree = await live.locator(".tree").innerText();
  for (const expected of ["router", "writing_expert", "code_expert", "LlmAgent"]) {
    check(tree.includes(expected), `router's tree shows ${expected}: ${tree}`);
  }
  const page = await live.locator("body").innerText();
  check(!/\bnull\b|undefined/.test(page), `no stray null/undefined on the page: ${page}`);
  await live.screenshot({ path: `${shots}/console-agents.png`, fullPage: true });
  check(errors.length === 0, `no script errors: ${errors}`);
  console.log("all checks passed");
} catch (e) {
  await live.screenshot({ path: `${shots}/console-failure.png`, fullPage: true }).catch(() => {});
  console.error(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
