/**
 * JSON Schema of the edge and cloud config files, generated from the zod schemas that validate them,
 * so an editor can complete and check a config (YAML language servers read JSON Schema) and the docs
 * cannot drift from the code: `config-schema.test.ts` regenerates them in memory and compares them
 * with the files in docs/schema/. After changing a config schema: `npm run schema`, then commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { cloudConfigSchema } from '../cloud/config.ts';
import { configSchema as edgeConfigSchema } from '../edge/config.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_DIR = path.join(repoRoot, 'docs', 'schema');

export interface ConfigSchemaFile {
  /** File name in docs/schema/. */
  file: string;
  /** Where the zod schema lives (named in the generated file and in drift messages). */
  source: string;
  title: string;
  schema: z.ZodType;
}

export const CONFIG_SCHEMA_FILES: readonly ConfigSchemaFile[] = [
  {
    file: 'edge-config.schema.json',
    source: 'edge/config.ts',
    title: 'gridlayer edge agent configuration',
    schema: edgeConfigSchema,
  },
  {
    file: 'cloud-config.schema.json',
    source: 'cloud/config.ts',
    title: 'gridlayer cloud service configuration',
    schema: cloudConfigSchema,
  },
];

/**
 * The JSON Schema of what a user may write (`io: 'input'`: keys with defaults are optional). Cross-key
 * rules written as refinements (e.g. "give exactly one of unit or units") have no JSON Schema form;
 * the agent and the cloud still check them on load.
 */
export function configJsonSchema(f: ConfigSchemaFile): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(f.schema, { io: 'input' });
  return {
    $schema,
    title: f.title,
    $comment: `Generated from ${f.source} by \`npm run schema\`; do not edit by hand.`,
    ...rest,
  };
}

/** Null when the checked-in text matches a fresh generation, else a message saying how to fix it. */
export function schemaDrift(f: ConfigSchemaFile, checkedIn: string | undefined): string | null {
  const where = `docs/schema/${f.file}`;
  if (checkedIn === undefined) return `${where} is missing: run \`npm run schema\` and commit it`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(checkedIn);
  } catch (err) {
    return `${where} is not JSON (${(err as Error).message}): run \`npm run schema\``;
  }
  return isDeepStrictEqual(parsed, configJsonSchema(f))
    ? null
    : `${where} is out of date with ${f.source}: run \`npm run schema\` and commit the result`;
}

/** Writes every schema file, formatted by Biome so `biome check` stays clean. Returns the paths. */
export function writeConfigSchemas(): string[] {
  mkdirSync(SCHEMA_DIR, { recursive: true });
  const files = CONFIG_SCHEMA_FILES.map((f) => {
    const file = path.join(SCHEMA_DIR, f.file);
    writeFileSync(file, `${JSON.stringify(configJsonSchema(f), null, 2)}\n`);
    return file;
  });
  execFileSync('npx', ['biome', 'format', '--write', ...files], { cwd: repoRoot, stdio: 'ignore' });
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const file of writeConfigSchemas()) console.log(`wrote ${path.relative(repoRoot, file)}`);
}
