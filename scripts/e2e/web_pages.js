// Drives headless Chromium through the issue pages, as a person would.
// Usage: node web_pages.js BASE SESSION_COOKIE SHORT_ID SCREENSHOT_DIR
// Prints one line per step; exits non-zero at the first step that fails.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const [base, session, shortId, shots] = process.argv.slice(2);
const WAIT = { timeout: 15000 };

function check(ok, what) {
  if (!ok) throw new Error("failed: " + what);
  console.log("ok: " + what);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30000,
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    context.setDefaultTimeout(15000);
    const url = new URL(base);
    await context.addCookies([{ name: "errata_session", value: session, domain: url.hostname, path: "/" }]);
    const page = await context.newPage();

    // The stream lists the issue.
    await page.goto(base + "/organizations/errata/issues/", WAIT);
    const issueLink = page.locator("table.issues a.title", { hasText: "ZeroDivisionError" });
    check(await issueLink.count() === 1, "the issue is in the stream");
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, "issue-stream.png") });

    // Its page shows the in-app frame and the breadcrumb.
    await issueLink.click();
    await page.waitForSelector("header.issue-header h1", WAIT);
    const inApp = await page.locator(".frame.in-app .frame-location").allTextContents();
    check(inApp.some((t) => t.includes("in checkout")), "the in-app frame is shown: " + inApp.join(" | "));
    const crumbs = await page.locator("table.breadcrumbs").textContent();
    check(crumbs.includes("started checkout with 1 item"), "the breadcrumb is shown");
    await page.screenshot({ path: path.join(shots, "issue-page.png") });
    const issueUrl = page.url();

    // Resolving it takes it out of the stream.
    await Promise.all([page.waitForNavigation(WAIT), page.click("button[value=resolve]")]);
    check((await page.locator(".status").first().textContent()).includes("resolved"), "the issue is resolved");
    await page.goto(base + "/organizations/errata/issues/", WAIT);
    check(await page.locator("table.issues a.title", { hasText: "ZeroDivisionError" }).count() === 0,
      "the resolved issue left the stream");

    // A link as the MCP server prints it lands on the issue page.
    await page.goto(base + "/organizations/errata/issues/" + shortId + "/", WAIT);
    check((await page.locator("header.issue-header h1").textContent()).includes("ZeroDivisionError"),
      "the short-id link opens the issue (" + issueUrl + ")");

    // Without a session the same link asks to sign in first, and comes back after.
    const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const other = await stranger.newPage();
    await other.goto(base + "/organizations/errata/issues/" + shortId + "/", WAIT);
    const landed = new URL(other.url());
    check(landed.pathname === "/auth/login/" && landed.searchParams.get("next") === "/organizations/errata/issues/" + shortId + "/",
      "signed out, the link goes to sign-in and back: " + other.url());
    await stranger.close();
    await context.close();
  } finally {
    // launch() gave this run a fresh, temporary user-data directory; closing removes it.
    await browser.close();
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
