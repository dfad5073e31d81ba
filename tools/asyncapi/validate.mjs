// Validates an AsyncAPI document with the official parser; prints every diagnostic and exits 1
// when any is an error (severity 0). Usage: node validate.mjs docs/asyncapi.yaml
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), { source: path });
const levels = ["error", "warning", "info", "hint"];
for (const d of diagnostics) {
  console.log(`${levels[d.severity]} ${d.code} at ${d.path.join(".") || "/"}: ${d.message}`);
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
if (errors || !document) {
  console.log(`${path}: ${errors} error(s)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.operations().length} operations`);
