// The page at / (gateway/page/), in a real browser: Debian's Chromium driven by
// playwright-core, against the real programs (order-devbroker, order-worker,
// order-gateway) started here on free ports.
//
// It places one order at the counter (the outcome shown must be GET
// /v1/orders/{id}'s), one with the buzzer (its number must show while the
// order is still cooking, then the buzzer must light up with the outcome),
// one that is rejected, one the API refuses (problem+json title and detail
// shown); checks that the fleet panel's counts moved, that it says "gateway
// unreachable" while /v1/fleet fails and recovers, that the page fits a
// phone's width; and that no console error and no failed request happened
// besides the ones a step provokes on purpose. Screenshots go to
// ARTIFACTS/page-*.png.
//
// Usage: node test_page.mjs --modules DIR (--bin DIR | --url URL)
//                           [--artifacts DIR] [--logs DIR] [--screenshot FILE]
//   --modules     the node_modules folder holding playwright-core
//   --bin         the folder of the programs: start them here
//   --url         an already running gateway (or tests/page/standin.py)
//   --screenshot  also write the desktop screenshot there (docs/page.png)
//
// Every wait has a deadline; the whole run is bounded by a watchdog. Exit
// status 0 when every check passed, 1 otherwise (each failure printed).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Debian's; ORDERFLEET_TEST_CHROMIUM overrides it (to try a missing or broken one).
const CHROMIUM = process.env.ORDERFLEET_TEST_CHROMIUM || '/usr/bin/chromium';
const TOTAL_MS = 85000;       // the watchdog: the whole test, start to finish
const STEP_MS = 20000;        // one wait in the browser
const HANDLER_LATENCY_MS = 1500; // the worker's simulated cooking time
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.resolve(HERE, '..', '..');

const args = parseArgs(process.argv.slice(2));
const artifacts = path.resolve(args.artifacts || path.join(os.tmpdir(), 'page-artifacts'));
const logs = path.resolve(args.logs || artifacts);
fs.mkdirSync(artifacts, { recursive: true });
fs.mkdirSync(logs, { recursive: true });

const failures = [];
const children = [];
let browserContext = null;
let profileDir = null;
const t0 = Date.now();

function log(msg) {
    console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
}

function fail(msg) {
    failures.push(msg);
    console.log('FAIL: ' + msg);
}

function check(cond, msg) {
    if (!cond) fail(msg);
    return cond;
}

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i++) {
        const m = /^--([a-z]+)$/.exec(argv[i]);
        if (!m || i + 1 >= argv.length) {
            console.error(`test_page: bad argument ${argv[i]}; see the usage at the top of ` +
                'tests/page/test_page.mjs');
            process.exit(2);
        }
        out[m[1]] = argv[++i];
    }
    return out;
}

// fn() until it returns something truthy, or throw after timeoutMs naming what.
async function waitFor(what, fn, timeoutMs = STEP_MS, intervalMs = 50) {
    const deadline = Date.now() + timeoutMs;
    let last = null;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                (last ? ` (last error: ${last.message})` : ''));
        }
        await new Promise((r) => setTimeout(r, intervalMs)); // polling, bounded by the deadline
    }
}

// A program from --bin with its stderr in LOGS/page-NAME.log.
function start(name, argv, env = {}) {
    const logPath = path.join(logs, `page-${name}-${process.pid}.log`);
    const fd = fs.openSync(logPath, 'w');
    const p = spawn(path.join(args.bin, argv[0]), argv.slice(1), {
        stdio: ['ignore', 'pipe', fd], env: { ...process.env, ...env },
    });
    fs.closeSync(fd);
    p.logPath = logPath;
    p.progName = name;
    p.exited = null;
    p.on('exit', (code, sig) => { p.exited = sig || code; });
    children.push(p);
    return p;
}

function logText(p) {
    try {
        return fs.readFileSync(p.logPath, 'utf8');
    } catch (e) {
        return '';
    }
}

// The port= (logfmt) or "port": (JSON) of p's first log line containing msg.
async function portFromLog(p, msg) {
    return waitFor(`${p.progName} to log ${msg}`, () => {
        for (const line of logText(p).split('\n')) {
            if (!line.includes(msg)) continue;
            const m = /"port":(\d+)/.exec(line) || /\bport=(\d+)/.exec(line);
            if (m) return Number(m[1]);
        }
        if (p.exited !== null) {
            throw new Error(`${p.progName} exited (${p.exited}):\n${logText(p)}`);
        }
        return null;
    }, 30000);
}

// The first line p prints on stdout.
function firstLine(p) {
    return new Promise((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(
            `${p.progName} printed nothing on stdout in 30 s:\n${logText(p)}`)), 30000);
        p.stdout.on('data', (d) => {
            buf += d;
            const i = buf.indexOf('\n');
            if (i >= 0) {
                clearTimeout(timer);
                resolve(buf.slice(0, i).trim());
            }
        });
        p.on('exit', () => {
            clearTimeout(timer);
            reject(new Error(`${p.progName} exited (${p.exited}):\n${logText(p)}`));
        });
    });
}

async function httpGet(url) {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text };
}

// Starts the fleet; returns the gateway's base URL.
async function startFleet() {
    const broker = start('devbroker', ['order-devbroker']);
    const bootstrap = await firstLine(broker);
    check(bootstrap, 'order-devbroker printed its bootstrap servers');
    const ops = { ORDERFLEET_METRICS_LISTEN: '127.0.0.1:0' };
    const worker = start('worker', ['order-worker', '-b', bootstrap],
        { ...ops, ORDERFLEET_HANDLER_LATENCY_MS: String(HANDLER_LATENCY_MS),
          ORDERFLEET_HANDLER_FAILURE_RATE: '0' });
    const gateway = start('gateway', ['order-gateway', '-b', bootstrap, '-l', '127.0.0.1:0',
                                      '--log-format', 'json'], ops);
    const wport = await portFromLog(worker, 'ops endpoint listening');
    const api = await portFromLog(gateway, '"msg":"listening"');
    const base = `http://127.0.0.1:${api}`;
    // Ready: the gateway once its reply consumer is positioned, the worker
    // once its group is steady (so the counter's order is answered in time).
    await waitFor('the gateway /readyz 200',
        async () => (await httpGet(base + '/readyz')).status === 200, 30000);
    await waitFor('the worker /readyz 200',
        async () => (await httpGet(`http://127.0.0.1:${wport}/readyz`)).status === 200, 30000);
    return base;
}

// SIGTERM to the gateway and the worker, which must exit 0 within 20 s
// (they drain and leave the group, which needs the broker); then the broker.
async function stopFleet() {
    const stop = async (procs) => {
        for (const p of procs) if (p.exited === null) p.kill('SIGTERM');
        const deadline = Date.now() + 20000;
        for (const p of procs) {
            while (p.exited === null && Date.now() < deadline) {
                await new Promise((r) => setTimeout(r, 50)); // waiting for the exit, bounded
            }
            if (p.exited === null) {
                fail(`${p.progName} did not exit within 20 s of SIGTERM; killed ` +
                    `(log: ${p.logPath})`);
                p.kill('SIGKILL');
            } else if (p.exited !== 0) {
                fail(`${p.progName} exited with ${p.exited} after SIGTERM (log: ${p.logPath})`);
            }
        }
    };
    const broker = children.filter((p) => p.progName === 'devbroker');
    await stop(children.filter((p) => p.progName !== 'devbroker'));
    await stop(broker);
    children.length = 0;
}

async function cleanup() {
    if (browserContext) {
        await Promise.race([browserContext.close().catch(() => {}),
                            new Promise((r) => setTimeout(r, 5000))]);
        browserContext = null;
    }
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    await stopFleet();
}

function loadPlaywright() {
    if (!args.modules) throw new Error('--modules DIR (the node_modules holding playwright-core)');
    const require = createRequire(path.join(path.resolve(args.modules), '..', 'noop.js'));
    try {
        return require('playwright-core');
    } catch (e) {
        throw new Error(`playwright-core is not installed in ${args.modules} ` +
            `(npm ci --prefix ${path.dirname(args.modules)}): ${e.message}`);
    }
}

// The page's CATALOG must be common/catalog.c's (SKU, price, in stock).
function checkCatalog() {
    const c = fs.readFileSync(path.join(SOURCE, 'common', 'catalog.c'), 'utf8');
    const js = fs.readFileSync(path.join(SOURCE, 'gateway', 'page', 'app.js'), 'utf8');
    const fromC = [...c.matchAll(/\{"([A-Z0-9-]+)", "[^"]*", (\d+), ([01])\}/g)]
        .map((m) => `${m[1]} ${m[2]} ${m[3] === '1'}`);
    const fromJs = [...js.matchAll(/\['([A-Z0-9-]+)', '[^']*', (\d+), (true|false)\]/g)]
        .map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    check(fromC.length > 0 && JSON.stringify(fromC) === JSON.stringify(fromJs),
        `the page's catalog differs from common/catalog.c:\n  C:  ${fromC.join(', ')}\n` +
        `  JS: ${fromJs.join(', ')}`);
    const curC = [...c.matchAll(/\{"([A-Z]{3})", \d+, \d+, \d+\}/g)].map((m) => m[1]);
    const curJs = (/const CURRENCIES = \[([^\]]*)\]/.exec(js) || ['', ''])[1]
        .match(/[A-Z]{3}/g) || [];
    check(JSON.stringify(curC) === JSON.stringify(curJs),
        `the page's currencies differ from common/catalog.c: ${curC} vs ${curJs}`);
}

const digits = (s) => String(s).replace(/\D/g, '').replace(/^0+/, '');

// What the page shows for an order must be what the API says about it.
async function checkAgainstApi(base, what, orderId, shown) {
    const r = await httpGet(`${base}/v1/orders/${encodeURIComponent(orderId)}`);
    if (!check(r.status === 200, `${what}: GET /v1/orders/${orderId} answered ${r.status}: ` +
        r.text)) return null;
    const o = JSON.parse(r.text);
    check(shown.status === o.status, `${what}: page shows ${shown.status}, API says ${o.status}`);
    const word = o.status.replace('ORDER_STATUS_', '').toLowerCase();
    check(shown.statusText.trim() === word,
        `${what}: status text "${shown.statusText}", expected "${word}"`);
    if (o.status === 'ORDER_STATUS_FULFILLED') {
        check(shown.total === String(o.total), `${what}: data-total ${shown.total} vs ${o.total}`);
        check(digits(shown.totalText) === digits(o.total),
            `${what}: total shown "${shown.totalText}" is not ${o.total} minor units`);
    } else {
        check(shown.reasonText === o.reason,
            `${what}: reason shown "${shown.reasonText}", API says "${o.reason}"`);
    }
    return o;
}

async function text(page, sel) {
    const loc = page.locator(sel);
    return (await loc.count()) ? (await loc.first().textContent()) || '' : '';
}

async function run() {
    checkCatalog();
    if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`${CHROMIUM} is missing: install Debian's chromium ` +
            '(deploy/install-deps.sh deploy/packages-browser.txt)');
    }
    const { chromium } = loadPlaywright();

    // The browser starts while the fleet does (both take seconds).
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderfleet-page-profile-'));
    const launching = chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        timeout: 30000,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--disable-dev-shm-usage'],
        viewport: { width: 1280, height: 1000 },
        locale: 'en-US',
        timezoneId: 'UTC',
    }).then((c) => {
        browserContext = c;
        log('chromium started');
        return c;
    });
    launching.catch(() => {}); // awaited below; a failure there names itself

    let base;
    if (args.url) {
        base = args.url.replace(/\/$/, '');
    } else if (args.bin) {
        base = await startFleet();
    } else {
        throw new Error('give --bin DIR (start the programs) or --url URL');
    }
    log('gateway at ' + base);

    // The page and its files, as the gateway serves them.
    const root = await httpGet(base + '/');
    check(root.status === 200, `GET / answered ${root.status}`);
    check((root.headers.get('content-type') || '').startsWith('text/html'),
        'GET / content type ' + root.headers.get('content-type'));
    check((root.headers.get('content-security-policy') || '').includes("default-src 'self'"),
        'GET / has no Content-Security-Policy default-src \'self\': ' +
        root.headers.get('content-security-policy'));

    let context;
    try {
        context = await launching;
    } catch (e) {
        throw new Error(`${CHROMIUM} did not start: ${e.message}`);
    }
    context.setDefaultTimeout(STEP_MS);
    const page = context.pages()[0] || await context.newPage();

    // Everything that goes wrong in the page; a step that provokes errors on
    // purpose takes what it provoked out of these lists (expectErrors).
    const consoleErrors = [];
    const failedRequests = [];
    page.on('console', (m) => {
        // The gateway serves no /favicon.ico (the contract has none) and the
        // browser asks for one by itself: its 404 is not the page's.
        if (m.type() === 'error' && !/\/favicon\.ico$/.test(m.location().url || '')) {
            consoleErrors.push(`${m.text()} (${m.location().url || '?'})`);
        }
    });
    page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));
    page.on('requestfailed', (r) => {
        const why = r.failure() ? r.failure().errorText : '?';
        // Closing an event stream once its outcome is in aborts its request:
        // the page's choice, not a failure.
        if (r.url().endsWith('/events') && why === 'net::ERR_ABORTED') return;
        failedRequests.push(`${r.method()} ${r.url()}: ${why}`);
    });
    page.on('response', (r) => {
        if (r.status() >= 400) failedRequests.push(`${r.request().method()} ${r.url()}: ` +
            r.status());
    });
    const expectErrors = (what, fn) => async () => {
        const c0 = consoleErrors.length;
        const f0 = failedRequests.length;
        await fn();
        const c = consoleErrors.splice(c0);
        const f = failedRequests.splice(f0);
        log(`${what}: provoked ${c.length} console error(s), ${f.length} failed request(s)`);
        return { console: c, failed: f };
    };

    await page.goto(base + '/', { waitUntil: 'load', timeout: STEP_MS });
    check(await page.title() === 'orderfleet: the counter and the buzzer',
        'page title ' + await page.title());

    // The fleet panel goes live and reads its counts.
    await page.locator('#fleet-state[data-state="live"]').waitFor();
    const count = async (id) => Number(digits(await text(page, '#' + id)) || 0);
    const fulfilled0 = await count('fleet-fulfilled');
    const rejected0 = await count('fleet-rejected');
    log(`fleet live: fulfilled ${fulfilled0}, rejected ${rejected0}`);

    const counter = page.locator('#counter-result');
    // The counter when the kitchen is slower than the wait: the request is
    // sent with Prefer: wait=1 (added on its way, as a proxy would), the
    // worker takes HANDLER_LATENCY_MS, so the gateway answers 202; the page
    // says so and follows the order by its events to the outcome.
    await page.route('**/v1/orders', (route) => route.continue({
        headers: { ...route.request().headers(), prefer: 'wait=1' },
    }));
    await page.selectOption('#counter-sku', 'FRIES-LARGE');
    await page.fill('#counter-quantity', '1');
    await page.click('#counter-submit');
    await page.locator('#counter-result[data-state="following"]').waitFor();
    const lateId = await counter.getAttribute('data-order-id');
    check(/took longer/.test(await text(page, '#counter-result')) &&
          (await text(page, '#counter-result')).includes(lateId.slice(-4).toUpperCase()),
        'the 202 fallback does not say so: ' + await text(page, '#counter-result'));
    await page.unroute('**/v1/orders');
    await page.locator(`#counter-result[data-state="done"][data-order-id="${lateId}"]`).waitFor();
    log(`counter after 202: ${lateId} ${await text(page, '[data-testid="counter-status"]')}`);
    await checkAgainstApi(base, 'counter after 202', lateId, {
        status: await counter.getAttribute('data-status'),
        total: await counter.getAttribute('data-total'),
        statusText: await text(page, '[data-testid="counter-status"]'),
        totalText: await text(page, '[data-testid="counter-total"]'),
        reasonText: await text(page, '[data-testid="counter-reason"]'),
    });

    // The counter: a cheeseburger, 2, EUR; spinner and elapsed time, then
    // the outcome, which must be the API's.
    await page.fill('#counter-customer', 'c-counter');
    await page.selectOption('#counter-sku', 'BURGER-CHEESE');
    await page.fill('#counter-quantity', '2');
    await page.selectOption('#counter-currency', 'EUR');
    await page.click('#counter-submit');
    await page.locator('#counter-result[data-state="waiting"] .spinner').waitFor();
    await waitFor('the counter\'s elapsed time to tick',
        async () => digits(await text(page, '[data-testid="counter-elapsed"]')) !== '');
    check(await page.locator('#counter-submit').isDisabled(),
        'the counter\'s button stays enabled while waiting');
    await page.locator('#counter-result[data-state="done"]:not([data-order-id="' + lateId +
        '"])').waitFor();
    const counterId = await counter.getAttribute('data-order-id');
    const counterShown = {
        status: await counter.getAttribute('data-status'),
        total: await counter.getAttribute('data-total'),
        statusText: await text(page, '[data-testid="counter-status"]'),
        totalText: await text(page, '[data-testid="counter-total"]'),
        reasonText: await text(page, '[data-testid="counter-reason"]'),
    };
    log(`counter: ${counterId} ${counterShown.statusText} ${counterShown.totalText}`);
    const co = await checkAgainstApi(base, 'counter', counterId, counterShown);
    if (co) {
        check(co.status === 'ORDER_STATUS_FULFILLED', 'counter order not fulfilled: ' +
            JSON.stringify(co));
        check(co.total === '2677', `2 cheeseburgers in EUR cost ${co.total}, expected 2677 ` +
            '(1998 + 19% tax 380 + shipping 299)');
    }

    // The buzzer, from the keyboard: the number at once, lit up later.
    await page.fill('#buzzer-customer', 'c-buzzer');
    await page.selectOption('#buzzer-sku', 'BURGER-CLASSIC');
    await page.fill('#buzzer-quantity', '3');
    await page.selectOption('#buzzer-currency', 'USD');
    await page.focus('#buzzer-submit');
    await page.keyboard.press('Enter');
    const card = page.locator('[data-testid="buzzer"]').first();
    await card.waitFor();
    const buzzerId = await card.getAttribute('data-order-id');
    const stateAtOnce = await card.getAttribute('data-state');
    const numberShown = await text(page, '[data-testid="buzzer"] [data-testid="buzzer-number"]');
    check(stateAtOnce === 'waiting', `the buzzer card was ${stateAtOnce} at once, not waiting`);
    check(numberShown === buzzerId.slice(-4).toUpperCase(),
        `the buzzer shows "${numberShown}" for order ${buzzerId}`);
    const pending = await httpGet(`${base}/v1/orders/${buzzerId}`);
    check(pending.status === 202, `the buzzer's order was not pending when its number showed ` +
        `(GET answered ${pending.status})`);
    const lightBefore = await card.locator('.buzzer-light')
        .evaluate((e) => getComputedStyle(e).backgroundColor);
    await page.screenshot({ path: path.join(artifacts, 'page-buzzer-waiting.png') });
    await page.locator(`[data-testid="buzzer"][data-order-id="${buzzerId}"][data-state="lit"]`)
        .waitFor();
    const lightAfter = await card.locator('.buzzer-light')
        .evaluate((e) => getComputedStyle(e).backgroundColor);
    check(lightBefore !== lightAfter, `the buzzer did not visibly change (${lightBefore})`);
    const buzzerShown = {
        status: await card.getAttribute('data-status'),
        total: await card.getAttribute('data-total'),
        statusText: await text(page, '[data-testid="buzzer"] [data-testid="buzzer-status"]'),
        totalText: await text(page, '[data-testid="buzzer"] [data-testid="buzzer-total"]'),
        reasonText: await text(page, '[data-testid="buzzer"] [data-testid="buzzer-reason"]'),
    };
    log(`buzzer: ${buzzerId} ${numberShown} -> ${buzzerShown.statusText} ` +
        buzzerShown.totalText);
    await checkAgainstApi(base, 'buzzer', buzzerId, buzzerShown);

    // A sold-out shake: rejected, with its reason, on a second buzzer.
    await page.selectOption('#buzzer-sku', 'SHAKE-PISTACHIO');
    await page.fill('#buzzer-quantity', '1');
    await page.click('#buzzer-submit');
    await waitFor('a second buzzer', async () =>
        (await page.locator('[data-testid="buzzer"]').count()) === 2);
    const card2 = page.locator('[data-testid="buzzer"]').first();
    const rejectedId = await card2.getAttribute('data-order-id');
    check(rejectedId !== buzzerId, 'the second buzzer is the first one again');
    await page.locator(`[data-testid="buzzer"][data-order-id="${rejectedId}"][data-state="lit"]`)
        .waitFor();
    await checkAgainstApi(base, 'rejected buzzer', rejectedId, {
        status: await card2.getAttribute('data-status'),
        total: await card2.getAttribute('data-total'),
        statusText: await card2.locator('[data-testid="buzzer-status"]').textContent(),
        totalText: '',
        reasonText: await card2.locator('[data-testid="buzzer-reason"]').textContent(),
    });

    // The fleet panel saw them: outcomes counted, orders placed per second.
    await waitFor('the fleet panel to count the outcomes', async () =>
        await count('fleet-fulfilled') >= fulfilled0 + 3 &&
        await count('fleet-rejected') >= rejected0 + 1);
    const placedRate = Number(await text(page, '#fleet-placed-rate'));
    check(placedRate > 0, `placed/s shows ${placedRate} right after 4 orders`);
    await waitFor('lag bars or "not known yet"', async () =>
        (await page.locator('#fleet-lag .lag-col, #fleet-lag .lag-empty').count()) > 0);
    log(`fleet: fulfilled ${await count('fleet-fulfilled')}, rejected ` +
        `${await count('fleet-rejected')}, placed/s ${placedRate}, lag columns ` +
        `${await page.locator('#fleet-lag .lag-col').count()}`);

    // The screenshot of the README: both models with their outcomes.
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    const desktop = path.join(artifacts, 'page-desktop.png');
    await page.screenshot({ path: desktop, fullPage: true });
    if (args.screenshot) {
        fs.copyFileSync(desktop, path.resolve(args.screenshot));
        log('wrote ' + path.resolve(args.screenshot));
    }

    // Unexpected errors so far: none allowed.
    check(consoleErrors.length === 0, 'console errors: ' + consoleErrors.join(' | '));
    check(failedRequests.length === 0, 'failed requests: ' + failedRequests.join(' | '));
    consoleErrors.length = 0;
    failedRequests.length = 0;

    // A problem+json from the API: an empty quantity breaks the schema; the
    // page shows the problem's title and detail.
    const provoked = await expectErrors('an invalid order', async () => {
        await page.fill('#counter-quantity', '');
        await page.click('#counter-submit');
        await page.locator('#counter-result[data-state="error"]').waitFor();
    })();
    const title = await text(page, '[data-testid="counter-problem-title"]');
    const detail = await text(page, '[data-testid="counter-problem-detail"]');
    check(/^400 Bad Request$/.test(title.trim()), `problem title shown "${title}"`);
    check(detail.includes('quantity'), `problem detail shown "${detail}"`);
    check(provoked.failed.length === 1 && /POST .*\/v1\/orders: 400$/.test(provoked.failed[0]),
        'the invalid order: ' + provoked.failed.join(' | '));
    check(provoked.console.every((m) => /status of 400/.test(m)),
        'the invalid order logged: ' + provoked.console.join(' | '));
    await page.screenshot({ path: path.join(artifacts, 'page-problem.png') });

    // The fleet panel while /v1/fleet fails, and after.
    const outage = await expectErrors('a fleet outage', async () => {
        await page.route('**/v1/fleet', (route) => route.abort('connectionrefused'));
        await page.locator('#fleet-state[data-state="unreachable"]').waitFor();
        check((await text(page, '#fleet-state')).trim() === 'gateway unreachable',
            'fleet state text while unreachable: ' + await text(page, '#fleet-state'));
        await page.screenshot({ path: path.join(artifacts, 'page-unreachable.png') });
        await page.unroute('**/v1/fleet');
        await page.locator('#fleet-state[data-state="live"]').waitFor();
    })();
    check(outage.failed.every((f) => /GET .*\/v1\/fleet: net::ERR_CONNECTION_REFUSED$/.test(f)),
        'the fleet outage: ' + outage.failed.join(' | '));
    check(outage.console.every((m) => /ERR_CONNECTION_REFUSED/.test(m)),
        'the fleet outage logged: ' + outage.console.join(' | '));

    // A phone's width: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() =>
        document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `at 390 px wide the page scrolls sideways by ${overflow} px`);
    await page.screenshot({ path: path.join(artifacts, 'page-phone.png'), fullPage: true });

    check(consoleErrors.length === 0, 'console errors: ' + consoleErrors.join(' | '));
    check(failedRequests.length === 0, 'failed requests: ' + failedRequests.join(' | '));
}

// Past TOTAL_MS: everything is killed at once (the browser with node's exit).
const watchdog = setTimeout(() => {
    fail(`the test did not finish within ${TOTAL_MS / 1000} s`);
    for (const p of children) if (p.exited === null) p.kill('SIGKILL');
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    console.log(`test_page: 0 passed, 1 failed (${failures.length} failure(s))`);
    process.exit(1);
}, TOTAL_MS);

let ok = false;
try {
    await run();
    ok = true;
} catch (e) {
    fail(e.stack || String(e));
} finally {
    await cleanup();
    clearTimeout(watchdog);
}
log(`screenshots in ${artifacts}`);
const passed = ok && failures.length === 0;
console.log(passed ? 'test_page: 1 passed, 0 failed'
    : `test_page: 0 passed, 1 failed (${failures.length} failure(s))`);
process.exit(passed ? 0 : 1);
