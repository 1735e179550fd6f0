// Node's cluster module serving an express app, for tests/servers/node.bats:
// `node cluster.js PORT HOST...`. The primary forks (and so execs) 2 workers; each worker serves
// an express app on every HOST. With the default scheduling on Linux (SCHED_RR) the primary
// accepts each connection and hands it to a worker over its IPC channel (SCM_RIGHTS): the
// workers never accept. NODE_CLUSTER_SCHED_POLICY=none makes the workers accept themselves.
// Answers "gen=G pid=P" (the form the load client reads), the pid a worker's.
"use strict";
const cluster = require("cluster");

const port = Number(process.argv[2]);
const hosts = process.argv.slice(3);

if (cluster.isPrimary) {
    for (let i = 0; i < 2; i++)
        cluster.fork();
} else {
    const express = require("express");
    const app = express();
    const body = `gen=${process.env.HOTSWAP_GENERATION || "0"} pid=${process.pid}\n`;
    app.get("/", (req, res) => res.type("text/plain").send(body));
    for (const host of hosts)
        app.listen(port, host);
}
