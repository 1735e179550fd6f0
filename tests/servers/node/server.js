// A plain Node.js HTTP server for tests/servers/node.bats: `node server.js PORT HOST...`, one
// http.createServer per HOST, all in one process (libuv: epoll, nonblocking accept4).
// It answers "gen=G pid=P" (the form the load client and get/generation_of in tests/helpers.bash
// read) with Content-Length; Node keeps a connection open when the client asks for keep-alive.
"use strict";
const http = require("http");

const port = Number(process.argv[2]);
const body = `gen=${process.env.HOTSWAP_GENERATION || "0"} pid=${process.pid}\n`;

function answer(req, res) {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
}

for (const host of process.argv.slice(3)) {
    http.createServer(answer).listen(port, host);
}
