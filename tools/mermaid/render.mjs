// Renders Mermaid diagrams with the pinned mermaid-cli (its renderMermaid, the function its mmdc command
// uses), one headless Chromium for all of them, and says which ones do not render.
//
//   node tools/mermaid/render.mjs INSTALL_DIR PUPPETEER_CONFIG OUT_DIR FILE.mmd...
//
// INSTALL_DIR is the last line of tools/mermaid/install.sh (it holds node_modules/). Each FILE.mmd is rendered
// to OUT_DIR/<its base name>.svg. Prints "ok FILE" or "FAIL FILE: reason" per diagram; exits 1 when any
// failed, 2 on bad usage or when the browser cannot start.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [installDir, configPath, outDir, ...files] = process.argv.slice(2);
if (!installDir || !configPath || !outDir || files.length === 0) {
  console.error("usage: render.mjs INSTALL_DIR PUPPETEER_CONFIG OUT_DIR FILE.mmd...");
  process.exit(2);
}

const require = createRequire(path.join(path.resolve(installDir), "index.js"));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const pmod = await load("puppeteer");
const puppeteer = pmod.default && pmod.default.launch ? pmod.default : pmod;
const { renderMermaid } = await load("@mermaid-js/mermaid-cli");

let browser;
try {
  browser = await puppeteer.launch(JSON.parse(fs.readFileSync(configPath, "utf8")));
} catch (e) {
  console.error(`cannot start the browser: ${e.message}`);
  process.exit(2);
}

let failed = 0;
fs.mkdirSync(outDir, { recursive: true });
for (const file of files) {
  const definition = fs.readFileSync(file, "utf8");
  try {
    const { data } = await renderMermaid(browser, definition, "svg");
    const svg = Buffer.from(data).toString("utf8");
    // Older mermaid versions drew an error picture instead of failing: refuse that too.
    if (!svg.includes("<svg") || /Syntax error in (text|graph)/.test(svg)) {
      throw new Error("mermaid drew its error picture instead of the diagram");
    }
    fs.writeFileSync(path.join(outDir, path.basename(file).replace(/\.mmd$/, "") + ".svg"), svg);
    console.log(`ok ${file}`);
  } catch (e) {
    failed++;
    const reason = String(e && e.message ? e.message : e).split("\n").slice(0, 6).join(" | ");
    console.log(`FAIL ${file}: ${reason}`);
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
