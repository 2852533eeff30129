/**
 * Builds the npm package into `npm/` and runs the compiled test suite on Node (what dnt would do, without JSR).
 *
 * ```sh
 * deno run -A scripts/build_npm.ts                 # build, then every compiled *_test.js on Node
 * deno run -A scripts/build_npm.ts --skip-tests    # build only
 * deno run -A scripts/build_npm.ts frame close     # build, then only test files whose path contains a word
 * ```
 *
 * Steps: `tsc -p tsconfig.build.json` (ESM, declarations, `./x.ts` rewritten to `./x.js`, no type check: that is
 * `deno check`'s job), rewrite the `.ts` specifiers tsc leaves in declaration files, fail if any emitted file
 * still imports a relative `.ts` path, copy non-TypeScript files under `tests/` and `examples/` (fixtures,
 * static assets), write `npm/package.json` with the exports of `deno.json`, copy `README.md` and `LICENSE`,
 * check the packed file list with `npm pack --dry-run`, then `node --test` the compiled tests.
 *
 * Only `node:` modules and the installed `typescript` package are used, so Deno, Bun and Node can all run it.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, "npm");
/** Source folders whose non-TypeScript files (fixtures, static assets) the compiled code reads at run time. */
const ASSET_FOLDERS = ["tests", "examples"];
/** What goes into the published tarball: the library only, never the compiled tests or examples. */
const PACKAGE_FILES = ["mod.js", "mod.d.ts", "src/", "adapters/"];
/** A stuck test fails after this long instead of hanging the build; tests themselves must be far faster. */
const TEST_TIMEOUT_MS = 60_000;

/** Thrown for a failed build step; `main` prints the message and exits non-zero. */
class BuildError extends Error {}

function step(title: string): void {
  console.log(`\n== build_npm: ${title}`);
}

/** Runs `command` with inherited output; throws a {@linkcode BuildError} on a non-zero exit. */
function run(label: string, command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: "inherit" });
  if (result.error) throw new BuildError(`Cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const how = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
    throw new BuildError(`${label} failed with ${how}`);
  }
}

/** Every file under `dir` (relative to `dir`, `/`-separated), sorted; none when `dir` does not exist. */
function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    // `parentPath` is Node 20.12+; `path` is what older Node and other runtimes fill in.
    const parent = (entry as { parentPath?: string }).parentPath ?? entry.path;
    files.push(path.relative(dir, path.join(parent, entry.name)).split(path.sep).join("/"));
  }
  return files.sort();
}

/** A relative specifier that names a TypeScript source file (`./a.ts`, `../b.mts`), not a declaration file. */
function isRelativeTsSpecifier(specifier: string): boolean {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return false;
  if (/\.d\.[mc]?ts$/.test(specifier)) return false;
  return /\.[mc]?ts$/.test(specifier);
}

/** The relative `.ts` import specifiers of a module, from TypeScript's scanner (comments and strings skipped). */
function relativeTsImports(text: string): ts.FileReference[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles.filter((ref) => isRelativeTsSpecifier(ref.fileName));
}

/**
 * tsc rewrites `./x.ts` to `./x.js` in JavaScript only; declaration files keep `./x.ts`, which a consumer's
 * TypeScript without `allowImportingTsExtensions` rejects. Rewrite them the same way.
 */
function rewriteDeclarationImports(files: readonly string[]): number {
  let rewritten = 0;
  for (const file of files) {
    if (!file.endsWith(".d.ts")) continue;
    const full = path.join(OUT, file);
    let text = fs.readFileSync(full, "utf8");
    const refs = relativeTsImports(text);
    if (refs.length === 0) continue;
    // Back to front, so earlier positions stay valid.
    for (const ref of refs.sort((a, b) => b.pos - a.pos)) {
      // `pos` is where the string literal's token starts, leading whitespace included.
      const start = text.slice(ref.pos).search(/["'`]/) + ref.pos + 1;
      if (start === ref.pos || text.slice(start, start + ref.fileName.length) !== ref.fileName) {
        throw new BuildError(`Cannot locate "${ref.fileName}" in npm/${file}`);
      }
      const specifier = ref.fileName.replace(/ts$/, "js");
      text = text.slice(0, start) + specifier + text.slice(start + ref.fileName.length);
    }
    fs.writeFileSync(full, text);
    rewritten++;
  }
  return rewritten;
}

/** Fails the build naming every emitted module that still imports a relative `.ts` path. */
function checkNoTsSpecifiers(files: readonly string[]): void {
  const offenders: string[] = [];
  for (const file of files) {
    if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue;
    const text = fs.readFileSync(path.join(OUT, file), "utf8");
    for (const ref of relativeTsImports(text)) offenders.push(`npm/${file}: "${ref.fileName}"`);
  }
  if (offenders.length > 0) {
    throw new BuildError(
      `Emitted files import relative .ts paths (Node cannot load them):\n  ${
        offenders.join("\n  ")
      }`,
    );
  }
}

/**
 * Every emitted module must parse, and each of its relative imports must name an emitted file: `./x.js` needs
 * `x.js` beside a JavaScript importer and `x.d.ts` beside a declaration file.
 */
function checkEmittedModules(files: readonly string[]): void {
  const modules = files.filter((file) => file.endsWith(".js") || file.endsWith(".d.ts"));
  const emitted = new Set(files);
  const problems: string[] = [];
  const program = ts.createProgram(modules.map((file) => path.join(OUT, file)), {
    allowJs: true,
    noEmit: true,
    noResolve: true,
    types: [],
  });
  for (const diagnostic of program.getSyntacticDiagnostics()) {
    const where = diagnostic.file ? path.relative(ROOT, diagnostic.file.fileName) : "npm/";
    problems.push(`${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`);
  }
  for (const file of modules) {
    const text = fs.readFileSync(path.join(OUT, file), "utf8");
    const isDeclaration = file.endsWith(".d.ts");
    for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!fileName.startsWith("./") && !fileName.startsWith("../")) continue;
      let target = path.posix.join(path.posix.dirname(file), fileName);
      if (isDeclaration) target = target.replace(/\.js$/, ".d.ts");
      if (!emitted.has(target)) problems.push(`npm/${file}: "${fileName}" names no emitted file`);
    }
  }
  if (problems.length > 0) {
    throw new BuildError(`Broken emitted modules:\n  ${problems.join("\n  ")}`);
  }
}

function copyAssets(): number {
  let copied = 0;
  for (const folder of ASSET_FOLDERS) {
    for (const file of walk(path.join(ROOT, folder))) {
      if (/\.[mc]?tsx?$/.test(file)) continue;
      const target = path.join(OUT, folder, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(path.join(ROOT, folder, file), target);
      copied++;
    }
  }
  return copied;
}

interface DenoConfig {
  version?: string;
  exports?: string | Record<string, string>;
}

/** `npm/package.json`, with the version and entry points of `deno.json`. */
function writePackageJson(config: DenoConfig): Record<string, { types: string; default: string }> {
  if (typeof config.version !== "string") throw new BuildError('deno.json has no "version"');
  const denoExports = typeof config.exports === "string" ? { ".": config.exports } : config.exports;
  if (!denoExports || Object.keys(denoExports).length === 0) {
    throw new BuildError('deno.json has no "exports"');
  }
  const exports: Record<string, { types: string; default: string }> = {};
  for (const [name, source] of Object.entries(denoExports)) {
    if (!source.endsWith(".ts")) throw new BuildError(`deno.json export ${name} is not a .ts file`);
    const base = source.slice(0, -".ts".length);
    exports[name] = { types: `${base}.d.ts`, default: `${base}.js` };
  }
  const packageJson = {
    name: "wharf",
    version: config.version,
    description: "HTTP/1.1 and WebSocket (RFC 6455) server for Deno, Bun and Node",
    license: "MIT",
    type: "module",
    main: exports["."]?.default,
    types: exports["."]?.types,
    exports,
    files: PACKAGE_FILES,
    engines: { node: ">=20" },
  };
  fs.writeFileSync(path.join(OUT, "package.json"), JSON.stringify(packageJson, null, 2) + "\n");
  return exports;
}

/** Every export target must be in the tarball, and no compiled test may be. */
function checkPackedFiles(exports: Record<string, { types: string; default: string }>): number {
  const result = spawnSync("npm", [
    "pack",
    "--dry-run",
    "--json",
    "--ignore-scripts",
    "--loglevel=error",
  ], {
    cwd: OUT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (result.error) throw new BuildError(`Cannot run npm pack: ${result.error.message}`);
  if (result.status !== 0) throw new BuildError(`npm pack --dry-run failed:\n${result.stdout}`);
  const [pack] = JSON.parse(result.stdout) as [{ files: { path: string }[] }];
  const packed = new Set(pack.files.map((file) => file.path));
  const problems: string[] = [];
  for (const [name, target] of Object.entries(exports)) {
    for (const file of [target.types, target.default]) {
      if (!packed.has(file.replace(/^\.\//, ""))) {
        problems.push(`export "${name}" points at ${file}, which is not in the package`);
      }
    }
  }
  for (const file of packed) {
    if (file.startsWith("tests/")) problems.push(`${file} would be published`);
  }
  if (problems.length > 0) {
    throw new BuildError(`Bad package contents:\n  ${problems.join("\n  ")}`);
  }
  return packed.size;
}

/** The Node executable: this process when Node runs the script, else `node` from `PATH`. */
function nodeExecutable(): string {
  const versions = process.versions as Record<string, string | undefined>;
  return versions.deno || versions.bun ? "node" : process.execPath;
}

function runNodeTests(filters: readonly string[]): void {
  const tests = walk(path.join(OUT, "tests"))
    .filter((file) => file.endsWith("_test.js"))
    .map((file) => `npm/tests/${file}`)
    .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
  if (tests.length === 0) {
    throw new BuildError(
      filters.length === 0
        ? "No npm/tests/**/*_test.js files"
        : `No test file matches ${filters.join(", ")}`,
    );
  }
  step(`node --test (${tests.length} file${tests.length === 1 ? "" : "s"})`);
  run(`node --test of ${tests.length} compiled test file(s)`, nodeExecutable(), [
    "--test",
    "--test-reporter=spec",
    `--test-concurrency=${Math.max(1, availableParallelism())}`,
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    ...tests,
  ]);
}

function main(args: readonly string[]): void {
  const unknown = args.filter((arg) => arg.startsWith("-") && arg !== "--skip-tests");
  if (unknown.length > 0) {
    throw new BuildError(
      `Unknown option ${unknown.join(" ")} (use --skip-tests or test file filters)`,
    );
  }
  const skipTests = args.includes("--skip-tests");
  const filters = args.filter((arg) => !arg.startsWith("-"));
  const started = performance.now();

  const config = JSON.parse(fs.readFileSync(path.join(ROOT, "deno.json"), "utf8")) as DenoConfig;

  step("tsc -p tsconfig.build.json");
  fs.rmSync(OUT, { recursive: true, force: true });
  run("tsc -p tsconfig.build.json", path.join(ROOT, "node_modules", ".bin", "tsc"), [
    "-p",
    "tsconfig.build.json",
  ]);

  const emitted = walk(OUT);
  const rewritten = rewriteDeclarationImports(emitted);
  checkNoTsSpecifiers(emitted);
  checkEmittedModules(emitted);
  const assets = copyAssets();
  console.log(
    `${emitted.length} files emitted, ${rewritten} declaration files rewritten to .js specifiers, ` +
      `${assets} asset files copied`,
  );

  step("npm/package.json");
  const exports = writePackageJson(config);
  for (const file of ["README.md", "LICENSE"]) {
    const source = path.join(ROOT, file);
    if (fs.existsSync(source)) fs.copyFileSync(source, path.join(OUT, file));
    else console.warn(`warning: ${file} is missing, the package will ship without it`);
  }
  const packed = checkPackedFiles(exports);
  console.log(
    `wharf@${config.version}: ${Object.keys(exports).join(", ")}; ${packed} files packed`,
  );
  console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  if (!skipTests) runNodeTests(filters);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof BuildError)) throw error;
  console.error(`\nbuild_npm: ${error.message}`);
  process.exit(1);
}
