import { test } from "node:test";
import assert from "node:assert/strict";
import { Failover, splitServers } from "./failover.js";

test("address lists split and rotate like the Python clients'", () => {
  assert.deepEqual(splitServers(" a:1, b:2 ,"), ["a:1", "b:2"]);
  assert.throws(() => splitServers(" , "), /no sanctum address/);
  const f = new Failover("a:1,b:2,c:3");
  assert.equal(f.current, "a:1");
  assert.deepEqual([f.failed(), f.current, f.failed(), f.current], [false, "b:2", false, "c:3"]);
  assert.equal(f.failed(), true);
  assert.equal(f.current, "a:1");
  f.failed();
  f.succeeded();
  assert.deepEqual([f.failed(), f.failed(), f.failed()], [false, false, true]);
});
