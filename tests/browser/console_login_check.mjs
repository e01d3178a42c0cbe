// The console's browser login, in headless Chromium against a proxy with client keys: the page
// asks for a key, refuses one not marked `console: true`, lets a console key in, keeps the login
// in a cookie that page scripts cannot read, survives a reload, and logs out.
//   node console_login_check.mjs BASE_URL CONSOLE_KEY OTHER_KEY SHOT_DIR
import { check, launch } from "./browser.mjs";

const [base, consoleKey, otherKey, shots] = process.argv.slice(2);
if (!base || !consoleKey || !otherKey || !shots) {
  console.error("usage: console_login_check.mjs BASE_URL CONSOLE_KEY OTHER_KEY SHOT_DIR");
  process.exit(2);
}

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
try {
  await page.goto(base + "/console#/sessions", { waitUntil: "domcontentloaded" });
  await page.locator("#login-key").waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/console-login.png` });

  await page.fill("#login-key", otherKey);
  await page.click("form.login button");
  await page.locator("form.login .error", { hasText: "console: true" }).waitFor({ timeout: 10000 });

  await page.fill("#login-key", consoleKey);
  await page.click("form.login button");
  await page.locator("#viewer", { hasText: "viewing as ops" }).waitFor({ timeout: 10000 });
  await page.locator("#session-rows").waitFor({ state: "attached", timeout: 10000 });
  const scriptCookies = await page.evaluate(() => document.cookie);
  check(!scriptCookies.includes("adk_console"), `the login cookie is HttpOnly: ${scriptCookies}`);
  const html = await page.content();
  check(!html.includes(consoleKey), "the key is not kept in the page");

  await page.reload({ waitUntil: "domcontentloaded" });
  await page.locator("#viewer", { hasText: "viewing as ops" }).waitFor({ timeout: 10000 });

  await page.click("#viewer button");
  await page.locator("#login-key").waitFor({ timeout: 10000 });
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.locator("#login-key").waitFor({ timeout: 10000 });
  console.log("all checks passed");
} catch (e) {
  await page.screenshot({ path: `${shots}/console-login-failure.png` }).catch(() => {});
  console.error(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
