// What the console's browser checks share: Debian's Chromium started headless through
// playwright-core (no browser download), and a check that fails with its message.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  });
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}
