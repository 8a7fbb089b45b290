// Validates httpapi/openapi.yaml against the OpenAPI 3.1 schema and
// resolves every $ref. Run from web/: npm run lint:openapi
import SwaggerParser from "@apidevtools/swagger-parser";
import { fileURLToPath } from "node:url";

const file = fileURLToPath(new URL("../../httpapi/openapi.yaml", import.meta.url));
try {
  const api = await SwaggerParser.validate(file);
  const ops = Object.values(api.paths ?? {}).flatMap((p) =>
    Object.keys(p).filter((k) => ["get", "post", "put", "patch", "delete"].includes(k)),
  );
  console.log(`openapi: ${file} is valid OpenAPI ${api.openapi} (${Object.keys(api.paths).length} paths, ${ops.length} operations)`);
} catch (err) {
  console.error(`openapi: ${file} is invalid:\n${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
