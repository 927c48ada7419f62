// Shared helpers for the browser tests (tests/e2e_web.rs): one Chromium per scenario group,
// a context per person, every wait bounded, and a watch on every page for a missing
// Content-Security-Policy header or a CSP violation in the console.
"use strict";
const { chromium } = require("playwright-core");

const WAIT_MS = 15000;

async function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    timeout: WAIT_MS,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Problems seen on any page of the run: pages without CSP, CSP violations, script errors.
const problems = [];

// A browser context (one person's cookies) whose pages are all watched.
async function person(browser, base) {
  const context = await browser.newContext({ baseURL: base });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  context.on("page", watch);
  const page = await context.newPage();
  return { context, page };
}

function watch(page) {
  page.on("response", (response) => {
    if (response.request().resourceType() !== "document") return;
    if (!response.headers()["content-security-policy"]) {
      problems.push(`no Content-Security-Policy on ${response.url()}`);
    }
  });
  page.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) problems.push(`CSP violation: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`script error: ${error.message}`));
}

async function signIn(page, email, password) {
  await page.goto("/auth/login/");
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForLoadState("load"), page.click('button[type="submit"]')]);
}

// The value of the first hidden csrf field on the page.
async function csrfOf(page) {
  return page.locator('input[name="csrf"]').first().getAttribute("value");
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Runs `names` in order from `steps` (name -> async (ctx) => {}), printing `ok NAME` for each;
// stops at the first failure. `ctx` carries the config and whatever steps leave for later ones.
async function runScenario(steps, config) {
  const browser = await launch();
  const ctx = { config, base: config.base, browser, people: {} };
  let failed = false;
  try {
    for (const name of config.steps) {
      const step = steps[name];
      if (!step) throw new Error(`no step named ${name}`);
      await step(ctx);
      console.log(`ok ${name}`);
    }
    check(problems.length === 0, `problems on pages:\n${problems.join("\n")}`);
    console.log("ok no-csp-problems");
  } catch (error) {
    failed = true;
    console.log(`FAILED: ${error && error.stack ? error.stack : error}`);
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}

module.exports = { launch, person, signIn, csrfOf, check, runScenario, WAIT_MS };
