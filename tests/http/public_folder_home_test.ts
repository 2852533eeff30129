import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStreamServer } from "../../mod.ts";
import { nodeFileSystem } from "../../adapters/_fs_node.ts";
import type { Platform } from "../../src/platform.ts";
import { MemoryConnection } from "../_helpers/duplex_pair.ts";

function platformWithHome(home: string | undefined): Platform {
  return { name: "streams", fs: nodeFileSystem, homeDir: () => home };
}

describe("publicFolder with a leading ~ (the seed's home-folder expansion)", () => {
  test("~/site serves files from the home folder's site/", async () => {
    const home = mkdtempSync(join(tmpdir(), "wharf-home-"));
    mkdirSync(join(home, "site"));
    writeFileSync(join(home, "site", "index.html"), "<p>home page</p>");
    const server = await createStreamServer(
      () => {},
      { publicFolder: "~/site" },
      platformWithHome(home),
    );
    try {
      const connection = new MemoryConnection(server);
      connection.write("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
      const [response] = await connection.waitForResponses(1, ["GET"]);
      assert.equal(response.status, 200);
      assert.equal(new TextDecoder().decode(response.body), "<p>home page</p>");
    } finally {
      await server.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("~ with an unknown home folder is a TypeError at start", async () => {
    await assert.rejects(
      createStreamServer(() => {}, { publicFolder: "~/site" }, platformWithHome(undefined)),
      TypeError,
    );
  });

  test("a public folder that does not exist fails the start", async () => {
    await assert.rejects(
      createStreamServer(() => {}, { publicFolder: join(tmpdir(), "wharf-no-such-folder-x") }, {
        name: "streams",
        fs: nodeFileSystem,
        homeDir: () => undefined,
      }),
    );
  });
});
