// Browser test of docbridge's admin page and OAuth2 pages, run by .ci/browser.sh: Debian's
// Chromium driven by playwright-core (no downloaded browser). It logs in, adds an ApiKey
// integration, disables it and sees a provider call answer 403, enables it again, runs the
// connection test, adds a user and an OAuth2 integration, and completes the OAuth2 login and
// consent pages, then redeems the code as Workfront would; then browses the default
// integration's documents as that user, as an editor (upload, new folder) and as a reader (no
// controls). Each page is saved as a screenshot.
//
// Environment: DOCBRIDGE_URL (the server's base URL), ADMIN_TOKEN, SCREENSHOTS (a folder),
// CHROMIUM (default /usr/bin/chromium). Exits non-zero when a check fails.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const base = process.env.DOCBRIDGE_URL;
const token = process.env.ADMIN_TOKEN;
const shots = process.env.SCREENSHOTS ?? 'target/browser-screenshots';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!base || !token) {
  console.error('DOCBRIDGE_URL and ADMIN_TOKEN are required');
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

let passed = 0;
let failed = 0;

/** Runs one named step; a failure is reported and ends the run (later steps depend on it). */
async function step(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(error?.stack ?? error).split('\n').join('\n  ')}`);
    throw error;
  }
}

/** A provider call from outside the browser, as Workfront makes it. */
async function providerStatus(slug, headers) {
  const response = await fetch(`${base}/webhooks/${slug}/files?parentId=/`, { headers });
  await response.arrayBuffer();
  return response.status;
}

/** Workfront's side of the OAuth2 redirect: records what arrives at the redirect URI. */
function startCallbackServer() {
  const received = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://127.0.0.1');
    received.push(Object.fromEntries(url.searchParams));
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>Workfront (stand-in)</title><h1>Back in Workfront</h1><p>The authorization code arrived.</p>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, received, url: `http://127.0.0.1:${server.address().port}/oauth2/callback` }));
  });
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'docbridge-chromium-'));
// headless: true makes playwright pass --headless; the profile is a fresh folder (--user-data-dir).
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
});
const page = context.pages()[0] ?? (await context.newPage());
// Nothing but docbridge and the stand-in callback may be reached: every other request fails the run.
const foreign = [];
await context.route('**/*', (route) => {
  const url = new URL(route.request().url());
  if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') return route.continue();
  foreign.push(url.href);
  return route.abort();
});
const consoleErrors = [];
page.on('console', (message) => {
  // A page answered with 403 on purpose (the wrong token) logs "Failed to load resource": not a fault.
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) consoleErrors.push(message.text());
});
page.on('pageerror', (error) => consoleErrors.push(String(error)));
const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
const callback = await startCallbackServer();

let apiKey;
let apiSlug;
let oauth;
try {
  await step('an anonymous visit is sent to the login page', async () => {
    await page.goto(`${base}/admin`);
    assert.match(page.url(), /\/admin\/login$/);
    await shot('01-login');
  });

  await step('a wrong token is refused', async () => {
    await page.fill('#token', 'not-the-admin-token');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('.notice'), /Wrong admin token/);
  });

  await step('the admin token logs in and the integrations are listed', async () => {
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/admin`);
    assert.ok(await page.isVisible('tr[data-slug="default"]'));
    const cookies = await context.cookies(`${base}/admin`);
    const session = cookies.find((c) => c.name === 'docbridge_admin');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.path, '/admin');
    assert.ok(session.expires > Date.now() / 1000, 'the session expires');
    await shot('02-integrations');
  });

  await step('an ApiKey integration is added and its key shown once', async () => {
    await page.click('text=Add an integration');
    await page.fill('#name', 'Browser ApiKey');
    await page.selectOption('#auth', 'apikey');
    await shot('03-add-integration');
    await page.click('button:has-text("Add integration")');
    apiKey = await page.inputValue('#wf-api-key');
    assert.match(apiKey, /^[A-Za-z0-9_-]{40,}$/);
    const baseUrl = await page.inputValue('#wf-base-url');
    apiSlug = baseUrl.split('/').pop();
    assert.equal(baseUrl, `${base}/webhooks/${apiSlug}`);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.click('button[data-copy="wf-api-key"]');
    await page.waitForFunction(() => document.querySelector('button[data-copy="wf-api-key"]').textContent === 'Copied');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), apiKey, 'the copy button copies the key');
    await shot('04-integration-added');
    assert.equal(await providerStatus(apiSlug, { apiKey, username: 'browser@example.com' }), 200);
  });

  await step('disabling the integration makes provider calls answer 403', async () => {
    await page.click('text=Continue');
    await page.waitForURL(`${base}/admin/integrations/${apiSlug}`);
    assert.ok(!(await page.content()).includes(apiKey), 'the key is not shown again');
    await page.click('form[action$="/disable"] button');
    await page.waitForURL(/notice=disabled/);
    assert.match(await page.textContent('.notice'), /Disabled/);
    await shot('05-integration-disabled');
    assert.equal(await providerStatus(apiSlug, { apiKey, username: 'browser@example.com' }), 403);
  });

  await step('enabling it again restores the calls', async () => {
    await page.click('form[action$="/enable"] button');
    await page.waitForURL(/notice=enabled/);
    assert.equal(await providerStatus(apiSlug, { apiKey, username: 'browser@example.com' }), 200);
    await shot('06-integration');
  });

  await step('the connection test runs the validator and passes', async () => {
    await page.click('button:has-text("Run connection test")');
    await page.waitForSelector('text=The connection test passed');
    assert.ok((await page.locator('tbody tr').count()) > 3, 'the cases are listed');
    await shot('07-connection-test');
  });

  await step('a user is added on the users page', async () => {
    await page.click('header nav >> text=Users');
    await page.fill('#new_username', 'wf.user@example.com');
    await page.fill('#new_password', 'a long browser password');
    await page.click('button:has-text("Add user")');
    await page.waitForURL(/notice=user-added/);
    assert.ok((await page.content()).includes('wf.user@example.com'));
  });

  await step('an OAuth2 integration is added with Workfront\'s redirect URI', async () => {
    await page.click('header nav >> text=Integrations');
    await page.click('text=Add an integration');
    await page.fill('#name', 'Browser OAuth');
    await page.selectOption('#auth', 'oauth2');
    await page.fill('#redirect_uris', callback.url);
    await page.click('button:has-text("Add integration")');
    oauth = {
      baseUrl: await page.inputValue('#wf-base-url'),
      authUrl: await page.inputValue('#wf-auth-url'),
      tokenUrl: await page.inputValue('#wf-token-url'),
      clientId: await page.inputValue('#wf-client-id'),
      clientSecret: await page.inputValue('#wf-client-secret'),
    };
    assert.equal(await page.inputValue('#wf-redirect-uri'), callback.url);
    assert.equal(oauth.authUrl, `${base}/oauth/authorize?client_id=${oauth.clientId}`);
    assert.equal(oauth.tokenUrl, `${base}/oauth/token`);
    await shot('08-oauth-integration-added');
  });

  await step('the user gets a role in the OAuth2 integration', async () => {
    const slug = oauth.baseUrl.split('/').pop();
    await page.click('text=Continue');
    await page.click('header nav >> text=Users');
    await page.selectOption('#grant_user', 'wf.user@example.com');
    await page.selectOption('#grant_integration', slug);
    await page.selectOption('#grant_role', 'editor');
    await page.click('button:has-text("Save role")');
    await page.waitForURL(/notice=grant-saved/);
    await shot('09-users');
  });

  await step('the OAuth2 login and consent pages lead back to Workfront with a code', async () => {
    const state = 'state-from-workfront-42';
    await page.goto(`${oauth.authUrl}&redirect_uri=${encodeURIComponent(callback.url)}&state=${state}&response_type=code`);
    await page.waitForSelector('input[name=password]');
    await shot('10-oauth-login');
    await page.fill('input[name=username]', 'wf.user@example.com');
    await page.fill('input[name=password]', 'a long browser password');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('button[value=allow]');
    await shot('11-oauth-consent');
    await page.click('button[value=allow]');
    await page.waitForURL((url) => url.href.startsWith(callback.url));
    const arrived = callback.received.at(-1);
    assert.equal(arrived.state, state);
    assert.ok(arrived.code, 'a code came back');
    oauth.code = arrived.code;
  });

  await step('the code is redeemed and the bearer token answers provider calls', async () => {
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: oauth.code, redirect_uri: callback.url, client_id: oauth.clientId, client_secret: oauth.clientSecret });
    const response = await fetch(oauth.tokenUrl, { method: 'POST', body });
    const tokens = await response.json();
    assert.equal(response.status, 200, JSON.stringify(tokens));
    assert.equal(tokens.token_type, 'Bearer');
    const slug = oauth.baseUrl.split('/').pop();
    assert.equal(await providerStatus(slug, { authorization: `Bearer ${tokens.access_token}` }), 200);
    assert.equal(await providerStatus(slug, { authorization: 'Bearer not-a-token' }), 403);
  });

  /** Gives wf.user@example.com `role` in the default integration, on the users page. */
  async function grantDefault(role) {
    await page.goto(`${base}/admin/users`);
    await page.selectOption('#grant_user', 'wf.user@example.com');
    await page.selectOption('#grant_integration', 'default');
    await page.selectOption('#grant_role', role);
    await page.click('button:has-text("Save role")');
    await page.waitForURL(/notice=grant-saved/);
  }

  /** Opens the document browser of the default integration as wf.user@example.com. */
  async function browseDefault() {
    await page.goto(`${base}/admin/integrations/default`);
    await page.click('text=Browse documents');
    await page.fill('#browse_user', 'wf.user@example.com');
    await page.click('form.browse-as button');
    await page.waitForSelector('#browse_role');
  }

  await step('the document browser lets an editor upload and create a folder', async () => {
    await grantDefault('editor');
    await browseDefault();
    assert.match(await page.textContent('#browse_role'), /editor/);
    await page.setInputFiles('#browse_file', { name: 'budget.csv', mimeType: 'text/csv', buffer: Buffer.from('year,amount\n2026,42\n') });
    await page.click('button:has-text("Upload")');
    await page.waitForURL(/notice=uploaded/);
    await page.fill('#browse_folder_name', 'Campaigns');
    await page.click('button:has-text("Create folder")');
    await page.waitForURL(/notice=folder-created/);
    const text = await page.textContent('#browse_items');
    assert.ok(text.includes('budget.csv') && text.includes('Campaigns'), text);
    // The thumbnail came through the provider's /thumbnail as this user.
    await page.waitForFunction(() => [...document.querySelectorAll('img.thumb')].every((img) => img.complete && img.naturalWidth > 0));
    await shot('13-browse-editor');
  });

  await step('a reader sees the files and no upload, folder or delete control', async () => {
    await grantDefault('reader');
    await browseDefault();
    assert.match(await page.textContent('#browse_role'), /reader/);
    assert.ok((await page.textContent('#browse_items')).includes('budget.csv'));
    assert.equal(await page.locator('#browse_file').count(), 0, 'no upload form');
    assert.equal(await page.locator('form[action$="/browse/delete"]').count(), 0, 'no delete button');
    const link = await page.getAttribute('#browse_items a:has-text("Download")', 'href');
    const download = await fetch(new URL(link, base));
    assert.equal(await download.text(), 'year,amount\n2026,42\n', 'the download link serves the file');
    await page.click('#browse_items a:has-text("Details")');
    await page.waitForSelector('#browse_detail');
    await shot('14-browse-reader');
  });

  await step('the audit trail lists the changes', async () => {
    await page.goto(`${base}/admin/audit`);
    const text = await page.textContent('table');
    for (const change of ['integration.add', 'integration.disable', 'integration.enable', 'user.add', 'user.grant', 'admin-page as wf.user@example.com']) {
      assert.ok(text.includes(change), `${change} is in the audit trail`);
    }
    await shot('12-audit');
  });

  await step('logging out ends the session', async () => {
    await page.click('button:has-text("Log out")');
    await page.waitForURL(/\/admin\/login/);
    await page.goto(`${base}/admin`);
    assert.match(page.url(), /\/admin\/login/);
  });

  await step('the pages reached nothing outside and logged no script error', async () => {
    assert.deepEqual(foreign, [], 'no request left the machine');
    assert.deepEqual(consoleErrors, [], 'no CSP violation or script error');
  });
} catch {
  // Reported by `step`; the summary below sets the exit code.
} finally {
  await context.close();
  callback.server.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
