// A real OpenID Connect authorization server (oidc-provider) on a free loopback port, for the
// tests of OAuth 2.0 client authentication: clients that authenticate with private_key_jwt,
// client_secret_basic and client_secret_post, the client credentials grant, and a protected
// resource (GET /api/me) that accepts the access tokens it issues.
//
// Reads its clients as JSON on stdin: {"clients": [{client_id, token_endpoint_auth_method,
// client_secret?, jwks?}]}. Prints one JSON line, {"issuer", "token_endpoint", "api"}, once it
// listens; runs until stdin closes or it is signalled.
import http from 'node:http';
import Provider from 'oidc-provider';

const input = await new Promise((resolve) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    text += chunk;
    const end = text.indexOf('\n');
    if (end >= 0) resolve(text.slice(0, end));
  });
});
const { clients } = JSON.parse(input);

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    ...client,
  })),
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  scopes: ['api'],
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));
// Why a client was refused, for the test's log (never the assertion itself).
provider.on('grant.error', (_ctx, error) => console.error('refused:', error.error_description));

const callback = provider.callback();
server.on('request', async (req, res) => {
  if (req.url === '/api/me') {
    const [scheme, value] = (req.headers.authorization || '').split(' ');
    const token = scheme === 'Bearer' && value
      ? await provider.ClientCredentials.find(value)
      : undefined;
    const body = token
      ? { client_id: token.clientId, scope: token.scope }
      : { error: 'invalid_token' };
    res.writeHead(token ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
    return;
  }
  callback(req, res);
});

process.stdout.write(`${JSON.stringify({
  issuer,
  token_endpoint: `${issuer}/token`,
  api: `${issuer}/api`,
})}\n`);
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
