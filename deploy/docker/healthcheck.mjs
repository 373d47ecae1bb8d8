// The image's HEALTHCHECK: GET /healthz on this container's own port
// (GPUTEL_PORT), over HTTPS when the gateway serves TLS (GPUTEL_TLS_CERT).
// Plain Node, because the slim base image has neither curl nor wget. The
// certificate is not checked: this asks the process in the same container
// whether it is alive, on loopback, and the certificate names the service.
import http from 'node:http';
import https from 'node:https';
import process from 'node:process';

const port = Number(process.env.GPUTEL_PORT || 8080);
const client = process.env.GPUTEL_TLS_CERT ? https : http;
const request = client.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2500, rejectUnauthorized: false }, (response) => {
  response.resume();
  process.exit(response.statusCode === 200 ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('timed out')));
request.on('error', (error) => {
  process.stderr.write(`healthcheck: GET /healthz on port ${port}: ${error.message}\n`);
  process.exit(1);
});
