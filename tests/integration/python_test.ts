import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startHttpServer, Websocket } from "../../mod.ts";

/** Debian's python3-websockets installs for the system interpreter, not for a pyenv shim earlier on PATH. */
const PYTHON = "/usr/bin/python3";
const hasWebsockets = spawnSync(PYTHON, ["-c", "import websockets"]).status === 0;
const CLIENT = fileURLToPath(new URL("./fixtures/python_client.py", import.meta.url));

test(
  "python3-websockets: text, empty, binary, 70 kB and 1 MiB echo, ping, clean closes both ways",
  {
    skip: hasWebsockets
      ? false
      : `${PYTHON} has no websockets module (apt-get install python3-websockets)`,
    timeout: 30_000,
  },
  async () => {
    const savedLimit = Websocket.maxMsgSize;
    Websocket.maxMsgSize = 2 * 1024 * 1024;
    const server = await startHttpServer((request) => {
      const closeFirst = request.query === "close-first";
      Websocket.upgrade({
        request,
        onOpen: (ws) => {
          if (closeFirst) ws.close(4000, "server says bye");
        },
        onMessage: (ws, data, isText) => Websocket.write(ws, data, isText),
      });
    }, { port: 0, address: "127.0.0.1", handleSignals: false });
    try {
      const child = spawn(PYTHON, [CLIENT, `ws://127.0.0.1:${server.port}/`], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let output = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (text: string) => output += text);
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(output.trim()), { ok: true });
    } finally {
      Websocket.maxMsgSize = savedLimit;
      await server.stop();
    }
  },
);
