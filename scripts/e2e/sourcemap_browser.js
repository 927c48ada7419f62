// Loads a bundled app in headless Chromium so @sentry/browser reports its error.
//
// Usage: node sourcemap_browser.js DIST_DIR BUNDLE DSN RELEASE
// (NODE_PATH pointing at playwright-core). Serves DIST_DIR on 127.0.0.1, opens a page that
// loads BUNDLE, waits (bounded) until the SDK has flushed, prints `flushed: true|false`.
const http = require("http");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

async function main() {
  const [dist, bundle, dsn, release] = process.argv.slice(2);
  const page_html = `<!doctype html><html><body><script>
    window.ERRATA_DSN = ${JSON.stringify(dsn)}; window.ERRATA_RELEASE = ${JSON.stringify(release)};
  </script><script src="/${bundle}"></script></body></html>`;
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(req.url.split("?")[0]).replace(/^\/+/, "");
    if (name === "" || name === "index.html") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(page_html);
    }
    const file = path.join(dist, path.normalize(name));
    if (!file.startsWith(dist) || !fs.existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": "application/javascript" });
    res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "errata-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let flushed = false;
  try {
    const page = await browser.newPage();
    page.on("console", (msg) => console.log(`console: ${msg.text()}`));
    page.on("pageerror", (err) => console.log(`pageerror: ${err}`));
    await page.goto(`http://127.0.0.1:${port}/index.html`, { timeout: 30000 });
    await page.waitForFunction(() => window.errataFlushed !== undefined, null, { timeout: 30000 });
    flushed = await page.evaluate(() => window.errataFlushed);
  } finally {
    await browser.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(`flushed: ${flushed}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
