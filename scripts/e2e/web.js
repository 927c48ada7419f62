// Browser scenarios for the web UI. Usage: node web.js CONFIG_JSON, where the config is
// {"base": "http://127.0.0.1:PORT", "users": {"admin": {email, password}, "viewer": {…}},
//  "steps": ["wrong-password-fails", …]}. Steps run in the order given and share one browser;
// more steps are added to STEPS (or in a module merged into it, such as web-pages.js).
"use strict";
const fs = require("fs");
const path = require("path");
const { person, signIn, csrfOf, check } = require("./web-lib.js");

const STEPS = {
  "wrong-password-fails": async (ctx) => {
    const { page } = await person(ctx.browser, ctx.base);
    await signIn(page, ctx.config.users.admin.email, "not the password");
    check(new URL(page.url()).pathname === "/auth/login/", `stayed on sign-in, at ${page.url()}`);
    check(await page.locator("#login-error").isVisible(), "an error is shown");
    const cookies = await page.context().cookies();
    check(!cookies.some((c) => c.name === "errata_session"), "no session after a wrong password");
    await page.context().close();
  },

  "admin-signs-in-to-the-stream": async (ctx) => {
    const admin = await person(ctx.browser, ctx.base);
    await signIn(admin.page, ctx.config.users.admin.email, ctx.config.users.admin.password);
    const at = new URL(admin.page.url()).pathname;
    check(/^\/organizations\/[^/]+\/issues\/$/.test(at), `landed on the stream, at ${at}`);
    const session = (await admin.context.cookies()).find((c) => c.name === "errata_session");
    check(session, "a session cookie");
    check(session.httpOnly, "the session cookie is HttpOnly");
    check(session.sameSite === "Lax", `the session cookie is SameSite=Lax, not ${session.sameSite}`);
    ctx.people.admin = admin;
  },

  "post-without-csrf-is-refused": async (ctx) => {
    const { context } = ctx.people.admin;
    // context.request shares the person's cookies: a forged form post from another site.
    const response = await context.request.post("/settings/account/api/auth-tokens/", {
      form: { name: "forged", scope: "read" },
      maxRedirects: 0,
    });
    check(response.status() === 403, `403 without a CSRF token, got ${response.status()}`);
  },

  "admin-sees-write-actions": async (ctx) => {
    const { page } = ctx.people.admin;
    await page.goto("/organizations/errata/settings/members/");
    check(await page.locator("form#invite").count() === 1, "the admin sees the invite form");
  },

  "viewer-sees-no-write-actions-and-forged-writes-fail": async (ctx) => {
    const viewer = await person(ctx.browser, ctx.base);
    await signIn(viewer.page, ctx.config.users.viewer.email, ctx.config.users.viewer.password);
    await viewer.page.goto("/organizations/errata/settings/members/");
    check(await viewer.page.locator("form#invite").count() === 0, "no invite form for a viewer");
    check(await viewer.page.locator('form[action$="/remove/"]').count() === 0, "no remove buttons for a viewer");
    const csrf = await csrfOf(viewer.page);
    check(csrf && csrf.length > 16, "the viewer's page has a CSRF token");
    const response = await viewer.context.request.post("/organizations/errata/settings/members/", {
      form: { csrf, email: "mallory@example.com", role: "admin", password: "a password long enough" },
      maxRedirects: 0,
    });
    check(response.status() === 403, `a viewer's forged write is refused with 403, got ${response.status()}`);
    await viewer.context.close();
  },

  "sign-out-ends-the-session": async (ctx) => {
    const { page, context } = ctx.people.admin;
    await page.goto("/settings/account/");
    const cookies = await context.cookies();
    await Promise.all([page.waitForURL("**/auth/login/"), page.click('form[action="/auth/logout/"] button')]);
    check(!(await context.cookies()).some((c) => c.name === "errata_session"), "the cookie is cleared");
    // The old cookie, put back, opens nothing.
    const again = await ctx.browser.newContext({ baseURL: ctx.base });
    await again.addCookies(cookies);
    const response = await again.request.get("/settings/account/", { maxRedirects: 0 });
    check(response.status() === 303, `the old session redirects to sign-in, got ${response.status()}`);
    check((response.headers()["location"] || "").startsWith("/auth/login/"), "to the sign-in page");
    await again.close();
    await context.close();
  },
};

// Steps other page modules add (each exports an object of name -> step).
for (const extra of ["web-pages.js"]) {
  const file = path.join(__dirname, extra);
  if (fs.existsSync(file)) Object.assign(STEPS, require(file));
}

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
require("./web-lib.js").runScenario(STEPS, config);
