// Drives a running Open WebUI (login off) in headless Chromium for tests/e2e/open_webui.sh:
// opens a new chat with MODEL, sends each PROMPT once the previous answer has stopped changing,
// opens the collapsed blocks (tool cards, "Thought for"), saves a screenshot, prints the text.
//   node owui_drive.js URL MODEL SHOT.png PROMPT [PROMPT...]   (NODE_PATH must hold playwright-core)
const { chromium } = require('playwright-core');

async function settle(page, read, limitMs) {
  let previous = '';
  let changedAt = Date.now();
  const started = Date.now();
  await page.waitForTimeout(1000);
  while (Date.now() - started < limitMs) {
    const now = await read();
    if (now !== previous) {
      previous = now;
      changedAt = Date.now();
    } else if (Date.now() - changedAt > 3000) {
      return;
    }
    await page.waitForTimeout(250);
  }
}

(async () => {
  const [base, model, shot, ...prompts] = process.argv.slice(2);
  if (!prompts.length) {
    console.error('usage: owui_drive.js URL MODEL SHOT.png PROMPT...');
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const read = () => page.locator('#messages-container, main').first().innerText().catch(() => '');
  let failed = false;
  try {
    await page.goto(`${base}/?models=${encodeURIComponent(model)}`, { waitUntil: 'domcontentloaded', timeout: 60000 });
    const input = page.locator('#chat-input');
    await input.waitFor({ timeout: 60000 });
    const welcome = page.getByText("Okay, Let's Go!");
    if (await welcome.count()) await welcome.first().click();
    for (const prompt of prompts) {
      await input.click();
      await page.keyboard.type(prompt);
      await page.keyboard.press('Enter');
      await settle(page, read, 90000);
    }
    for (const block of await page.locator('button:has-text("Thought"), .cursor-pointer:has-text("Thought"), .cursor-pointer:has-text("View Result")').all()) {
      await block.click().catch(() => {});
    }
    await page.waitForTimeout(500);
  } catch (error) {
    console.log(`ERROR ${error.message}`);
    failed = true;
  }
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.log(await read());
  await browser.close();
  process.exit(failed ? 1 : 0);
})();
