// Validates AsyncAPI documents against the AsyncAPI 3.0 schema and the parser's rules.
// Usage: node validate.mjs FILE... ; exit 0 when every file is valid, 1 otherwise (diagnostics on stderr).
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"), { source: file });
  for (const d of diagnostics) {
    const where = d.path.length ? d.path.join(".") : "(root)";
    const level = ["error", "warning", "info", "hint"][d.severity] ?? "?";
    console.error(`${file}: ${level} ${d.code} at ${where}: ${d.message}`);
  }
  // Errors fail; so do warnings (a generated document has no excuse for them).
  const bad = diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning);
  if (document === undefined || bad.length > 0) {
    failed = true;
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}`);
  }
}
if (process.argv.length < 3) {
  console.error("usage: node validate.mjs FILE...");
  failed = true;
}
process.exit(failed ? 1 : 0);
