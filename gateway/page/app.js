/* orderfleet's page: the counter, the buzzer and the fleet panel.
 *
 * Plain JavaScript, no framework, no build step; served by order-gateway from
 * the binary with Content-Security-Policy default-src 'self', so nothing here
 * is inline and nothing comes from elsewhere. The API it uses is the gateway's
 * own (DESIGN.md section 5, docs/buzzer.md): POST /v1/orders,
 * GET /v1/orders/{id}, GET /v1/orders/{id}/events (server-sent events) and
 * GET /v1/fleet. Every text that comes from the API is put in the page with
 * textContent, never as HTML. */
'use strict';

/* The built-in catalog of order-worker's fulfillment handler
 * (common/catalog.c): SKU, name, list price in minor units, in stock.
 * tests/page/test_page.mjs checks that this list matches the C one. */
const CATALOG = [
    ['BURGER-CLASSIC', 'Classic burger', 899, true],
    ['BURGER-CHEESE', 'Cheeseburger', 999, true],
    ['BURGER-DOUBLE', 'Double burger', 1299, true],
    ['BURGER-VEGGIE', 'Veggie burger', 949, true],
    ['FRIES-SMALL', 'Fries, small', 299, true],
    ['FRIES-LARGE', 'Fries, large', 449, true],
    ['NUGGETS-6', 'Nuggets, 6 pieces', 599, true],
    ['NUGGETS-9', 'Nuggets, 9 pieces', 799, true],
    ['SALAD-GARDEN', 'Garden salad', 699, true],
    ['COLA-SMALL', 'Cola, small', 249, true],
    ['COLA-LARGE', 'Cola, large', 349, true],
    ['SHAKE-VANILLA', 'Vanilla shake', 499, true],
    ['SHAKE-PISTACHIO', 'Pistachio shake', 549, false],
    ['PIE-APPLE', 'Apple pie', 299, false],
].map(([sku, name, price, inStock]) => ({ sku, name, price, inStock }));

/* The currencies the catalog knows (common/catalog.c). */
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'JPY'];

const STATUS_WORDS = {
    ORDER_STATUS_FULFILLED: 'fulfilled',
    ORDER_STATUS_REJECTED: 'rejected',
    ORDER_STATUS_FAILED: 'failed',
};

const FLEET_EVERY_MS = 1000;      /* the fleet panel's poll period */
const FLEET_TIMEOUT_MS = 2500;    /* a fleet fetch slower than this counts as unreachable */
const POLL_FALLBACK_MS = 2000;    /* GET /v1/orders/{id} period when events are unavailable */
const MAX_BUZZERS = 8;            /* buzzer cards kept on the page, newest first */

const $ = (id) => document.getElementById(id);

/* A new element with a class and text (text may be omitted). */
function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
}

function testid(e, id) {
    e.dataset.testid = id;
    return e;
}

/* The number of minor-unit digits of a currency (2 for EUR, 0 for JPY), from
 * the browser's ISO 4217 data; 2 for a code it does not know. */
function minorDigits(currency) {
    try {
        return new Intl.NumberFormat('en', { style: 'currency', currency })
            .resolvedOptions().maximumFractionDigits;
    } catch (e) {
        return 2;
    }
}

/* Formats an amount in minor units (a number or a decimal string, as the API
 * gives int64 values) in its currency, exactly: the decimal point is placed in
 * the digits, no floating point is involved. */
function formatMoney(minor, currency) {
    const s = String(minor ?? '0').trim();
    if (!/^-?\d+$/.test(s)) return s + ' ' + (currency || '');
    const neg = s.startsWith('-');
    let digits = neg ? s.slice(1) : s;
    const d = minorDigits(currency);
    let decimal = digits;
    if (d > 0) {
        digits = digits.padStart(d + 1, '0');
        decimal = digits.slice(0, -d) + '.' + digits.slice(-d);
    }
    decimal = (neg ? '-' : '') + decimal;
    try {
        return new Intl.NumberFormat(undefined, {
            style: 'currency', currency, minimumFractionDigits: d, maximumFractionDigits: d,
        }).format(decimal);
    } catch (e) {
        return decimal + ' ' + (currency || '');
    }
}

function statusWord(status) {
    return STATUS_WORDS[status] || String(status || 'unknown').replace(/^ORDER_STATUS_/, '')
        .toLowerCase();
}

/* A random Idempotency-Key, so that a submit retried by the browser or a
 * double click never places two orders. */
function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/* The short number on a buzzer: the last four characters of the order id,
 * which are random in the gateway's UUIDv7 ids. */
function buzzerNumber(orderId) {
    return String(orderId).slice(-4).toUpperCase();
}

/* The order of a form as the API's JSON (DESIGN.md section 4). The quantity
 * goes as a number when it is one, else as typed, so that the gateway's own
 * validation answers (with its problem+json) rather than the page guessing. */
function orderFromForm(form) {
    const f = new FormData(form);
    const item = CATALOG.find((i) => i.sku === f.get('sku')) || CATALOG[0];
    const qtext = String(f.get('quantity') ?? '').trim();
    const quantity = /^\d+$/.test(qtext) ? Number(qtext) : qtext;
    return {
        customerId: String(f.get('customerId') ?? '').trim(),
        currency: String(f.get('currency')),
        items: [{ sku: item.sku, quantity, unitPrice: String(item.price) }],
        attributes: { channel: 'page' },
    };
}

/* Reads an error answer: an RFC 9457 problem when it is one, else a problem
 * made from the status line. Never throws. */
async function readProblem(res) {
    let p = null;
    try {
        const ct = res.headers.get('Content-Type') || '';
        if (ct.includes('json')) p = await res.json();
    } catch (e) {
        p = null;
    }
    if (!p || typeof p !== 'object') p = {};
    return {
        title: p.title || res.statusText || 'Error',
        status: p.status || res.status,
        detail: p.detail || 'the gateway answered ' + res.status,
        errors: Array.isArray(p.errors) ? p.errors : [],
    };
}

/* Renders a problem (title, detail, and each schema violation) into box. */
function showProblem(box, problem, prefix) {
    box.replaceChildren();
    box.dataset.state = 'error';
    box.className = 'result';
    box.append(testid(el('p', 'problem-title',
        (problem.status ? problem.status + ' ' : '') + problem.title), prefix + '-problem-title'));
    box.append(testid(el('p', 'problem-detail', problem.detail), prefix + '-problem-detail'));
    if (problem.errors.length) {
        const ul = el('ul', 'problem-errors');
        for (const e of problem.errors) ul.append(el('li', '', `${e.field}: ${e.reason}`));
        box.append(ul);
    }
}

/* The elements that show an outcome (status, total, breakdown, reason, id),
 * each with a data-testid of prefix-*. */
function outcomeNodes(o, prefix) {
    const nodes = [];
    nodes.push(testid(el('p', 'status', statusWord(o.status)), prefix + '-status'));
    if (o.status === 'ORDER_STATUS_FULFILLED') {
        nodes.push(testid(el('p', 'total', formatMoney(o.total, o.currency)), prefix + '-total'));
        nodes.push(el('p', 'breakdown',
            `${formatMoney(o.subtotal, o.currency)} + tax ${formatMoney(o.tax, o.currency)}` +
            ` + shipping ${formatMoney(o.shipping, o.currency)}`));
    }
    if (o.reason) nodes.push(testid(el('p', 'reason', o.reason), prefix + '-reason'));
    let meta = `order ${o.orderId}`;
    if (o.workerId) meta += ` · worker ${o.workerId}`;
    if (o.attempts && Number(o.attempts) > 1) meta += ` · ${o.attempts} attempts`;
    if (o.placedAtMs && o.completedAtMs) {
        meta += ` · ${Number(o.completedAtMs) - Number(o.placedAtMs)} ms in the fleet`;
    }
    nodes.push(testid(el('p', 'meta', meta), prefix + '-meta'));
    return nodes;
}

function statusClass(status) {
    return 'st-' + statusWord(status);
}

/* Follows one order until its outcome: EventSource on its events stream,
 * and when the stream cannot be had (an older gateway, 503 too many streams,
 * the gateway shutting down) GET /v1/orders/{id} every POLL_FALLBACK_MS.
 * on.outcome(o) is called once; on.state(text) reports progress; on.problem(p)
 * when the gateway does not know the order. Returns a function that stops
 * following. */
function follow(orderId, on) {
    let done = false;
    let es = null;
    let timer = null;
    const path = '/v1/orders/' + encodeURIComponent(orderId);

    const finish = () => {
        done = true;
        if (es) es.close();
        if (timer) clearTimeout(timer);
    };

    async function poll() {
        if (done) return;
        try {
            const res = await fetch(path, { headers: { Accept: 'application/json' } });
            if (res.status === 200) {
                const o = await res.json();
                finish();
                on.outcome(o);
                return;
            }
            if (res.status === 404) {
                finish();
                on.problem(await readProblem(res));
                return;
            }
            on.state('still cooking (asking every ' + POLL_FALLBACK_MS / 1000 + ' s)');
        } catch (e) {
            on.state('gateway unreachable, asking again');
        }
        if (!done) timer = setTimeout(poll, POLL_FALLBACK_MS);
    }

    if (!window.EventSource) {
        poll();
        return finish;
    }
    es = new EventSource(path + '/events');
    es.addEventListener('outcome', (ev) => {
        if (done) return;
        let o;
        try {
            o = JSON.parse(ev.data);
        } catch (e) {
            finish();
            on.problem({ title: 'Bad event', detail: 'the outcome event is not JSON', errors: [] });
            return;
        }
        finish();
        on.outcome(o);
    });
    es.addEventListener('shutdown', () => {
        /* The gateway is stopping: ask another one (or this one again) by GET. */
        es.close();
        es = null;
        on.state('the gateway restarted; asking for the outcome');
        timer = setTimeout(poll, POLL_FALLBACK_MS);
    });
    es.addEventListener('open', () => on.state('waiting for the kitchen'));
    es.addEventListener('error', () => {
        if (done) return;
        if (es.readyState === EventSource.CLOSED) {
            /* Not a stream (404, 503, or no events route): fall back to GET,
             * which also tells a 404 apart. */
            es = null;
            poll();
        } else {
            on.state('connection lost, reconnecting');
        }
    });
    return finish;
}

/* A ticking "waiting" line with a spinner; returns {stop(), seconds()}. */
function startTimer(box, prefix, label) {
    const t0 = performance.now();
    const p = el('p', 'waiting');
    p.append(el('span', 'spinner'));
    const text = el('span', '', label + ' ');
    /* the ticking seconds are for the eyes: a screen reader hears the
     * waiting line once (the box is a live region), not ten times a second */
    const elapsed = testid(el('span', 'elapsed', '0.0 s'), prefix + '-elapsed');
    elapsed.setAttribute('aria-hidden', 'true');
    text.append(elapsed);
    p.append(text);
    box.replaceChildren(p);
    const seconds = () => (performance.now() - t0) / 1000;
    const iv = setInterval(() => { elapsed.textContent = seconds().toFixed(1) + ' s'; }, 100);
    return { stop: () => clearInterval(iv), seconds, text };
}

/* The counter: POST and wait for 201; on 202 (the wait ran out) the order
 * becomes a buzzer that this box follows. */
function setupCounter() {
    const form = $('counter-form');
    const box = $('counter-result');
    const button = $('counter-submit');
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const order = orderFromForm(form);
        button.disabled = true;
        box.className = 'result';
        box.dataset.state = 'waiting';
        delete box.dataset.orderId;
        delete box.dataset.status;
        const timer = startTimer(box, 'counter', 'Waiting at the counter…');
        let res;
        try {
            res = await fetch('/v1/orders', {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', Accept: 'application/json',
                           'Idempotency-Key': newKey() },
                body: JSON.stringify(order),
            });
        } catch (e) {
            timer.stop();
            button.disabled = false;
            showProblem(box, { title: 'Gateway unreachable', status: 0, errors: [],
                               detail: 'the order could not be sent: ' + e.message }, 'counter');
            return;
        }
        if (res.status === 201) {
            const o = await res.json();
            timer.stop();
            button.disabled = false;
            showOutcome(box, o, 'counter', `answered in ${timer.seconds().toFixed(2)} s`);
            return;
        }
        if (res.status === 202) {
            const a = await res.json();
            timer.stop();
            button.disabled = false;
            box.dataset.state = 'following';
            box.dataset.orderId = a.orderId;
            const waited = timer.seconds().toFixed(1);
            const t2 = startTimer(box, 'counter',
                `The kitchen took longer than the counter waits (${waited} s): ` +
                `you got buzzer ${buzzerNumber(a.orderId)} instead, following it…`);
            follow(a.orderId, {
                outcome: (o) => {
                    t2.stop();
                    showOutcome(box, o, 'counter', `buzzer ${buzzerNumber(a.orderId)}, ` +
                        `after ${(timer.seconds()).toFixed(1)} s`);
                },
                state: () => {},
                problem: (p) => { t2.stop(); showProblem(box, p, 'counter'); },
            });
            return;
        }
        const problem = await readProblem(res);
        timer.stop();
        button.disabled = false;
        showProblem(box, problem, 'counter');
    });
}

function showOutcome(box, o, prefix, note) {
    box.replaceChildren(...outcomeNodes(o, prefix));
    if (note) box.append(testid(el('p', 'meta', note), prefix + '-note'));
    box.className = 'result ' + statusClass(o.status);
    box.dataset.state = 'done';
    box.dataset.orderId = o.orderId;
    box.dataset.status = o.status;
    box.dataset.total = o.total ?? '';
}

/* The buzzer: POST with Prefer: respond-async, a card with the number at
 * once, lit up by the outcome event. */
function setupBuzzer() {
    const form = $('buzzer-form');
    const list = $('buzzers');
    const errorBox = $('buzzer-error');
    const button = $('buzzer-submit');
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const order = orderFromForm(form);
        button.disabled = true;
        errorBox.hidden = true;
        let res;
        try {
            res = await fetch('/v1/orders', {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', Accept: 'application/json',
                           Prefer: 'respond-async', 'Idempotency-Key': newKey() },
                body: JSON.stringify(order),
            });
        } catch (e) {
            button.disabled = false;
            errorBox.hidden = false;
            showProblem(errorBox, { title: 'Gateway unreachable', status: 0, errors: [],
                                    detail: 'the order could not be sent: ' + e.message },
                        'buzzer');
            return;
        }
        button.disabled = false;
        if (res.status !== 202 && res.status !== 201) {
            errorBox.hidden = false;
            showProblem(errorBox, await readProblem(res), 'buzzer');
            return;
        }
        const a = await res.json();
        const card = addBuzzer(list, a.orderId);
        if (res.status === 201) {
            lightUp(card, a); /* a gateway that ignores respond-async */
            return;
        }
        const line = card.querySelector('[data-testid="buzzer-line"]');
        follow(a.orderId, {
            outcome: (o) => lightUp(card, o),
            state: (s) => { line.textContent = s; },
            problem: (p) => {
                card.dataset.state = 'error';
                line.textContent = `${p.title}: ${p.detail}`;
            },
        });
    });
}

/* A new buzzer card at the top of list, waiting. */
function addBuzzer(list, orderId) {
    const card = testid(el('li', 'buzzer-card'), 'buzzer');
    card.dataset.orderId = orderId;
    card.dataset.state = 'waiting';
    card.setAttribute('aria-label', 'buzzer ' + buzzerNumber(orderId));
    card.append(testid(el('div', 'buzzer-light', buzzerNumber(orderId)), 'buzzer-number'));
    const body = testid(el('div', 'buzzer-body'), 'buzzer-body');
    body.append(testid(el('p', 'status', 'waiting…'), 'buzzer-status'));
    body.append(testid(el('p', 'line', 'waiting for the kitchen'), 'buzzer-line'));
    body.append(testid(el('p', 'meta', 'order ' + orderId), 'buzzer-meta'));
    card.append(body);
    list.prepend(card);
    while (list.children.length > MAX_BUZZERS) list.lastElementChild.remove();
    $('buzzers-empty').hidden = true;
    return card;
}

function lightUp(card, o) {
    const body = card.querySelector('[data-testid="buzzer-body"]');
    body.replaceChildren(...outcomeNodes(o, 'buzzer'));
    card.className = 'buzzer-card ' + statusClass(o.status);
    card.dataset.state = 'lit';
    card.dataset.status = o.status;
    card.dataset.total = o.total ?? '';
    card.setAttribute('aria-label',
        `buzzer ${buzzerNumber(o.orderId)}: ${statusWord(o.status)}`);
}

/* The fleet panel: GET /v1/fleet every FLEET_EVERY_MS (one request at a time;
 * the next is scheduled when one ends), "gateway unreachable" while it fails,
 * live again as soon as one succeeds. Hidden tabs do not poll. */
function setupFleet() {
    const state = $('fleet-state');
    let timer = null;

    /* Only on a change: the badge is a live region. */
    function setState(s, text) {
        if (state.dataset.state === s) return;
        state.dataset.state = s;
        state.textContent = text;
    }

    async function tick() {
        timer = null;
        try {
            const res = await fetch('/v1/fleet', {
                cache: 'no-store', headers: { Accept: 'application/json' },
                signal: AbortSignal.timeout(FLEET_TIMEOUT_MS),
            });
            if (!res.ok) throw new Error('HTTP ' + res.status);
            renderFleet(await res.json());
            setState('live', 'live');
        } catch (e) {
            setState('unreachable', 'gateway unreachable');
        }
        if (!document.hidden) timer = setTimeout(tick, FLEET_EVERY_MS);
    }

    document.addEventListener('visibilitychange', () => {
        if (!document.hidden && !timer) tick();
    });
    tick();
}

function fmtRate(x) {
    const n = Number(x);
    return Number.isFinite(n) ? n.toFixed(1) : '–';
}

function fmtCount(x) {
    const n = Number(x);
    return Number.isFinite(n) ? n.toLocaleString() : '–';
}

function renderFleet(f) {
    $('fleet-orders-rate').textContent = fmtRate(f.ordersPerSecond);
    $('fleet-placed-rate').textContent = fmtRate(f.placedPerSecond);
    $('fleet-in-flight').textContent = fmtCount(f.inFlight);
    const g = f.gateway || {};
    $('fleet-waiting').textContent = fmtCount(g.waiting);
    $('fleet-streams').textContent = fmtCount(g.streams);
    const out = f.outcomes || {};
    $('fleet-fulfilled').textContent = fmtCount(out.ORDER_STATUS_FULFILLED ?? 0);
    $('fleet-rejected').textContent = fmtCount(out.ORDER_STATUS_REJECTED ?? 0);
    $('fleet-failed').textContent = fmtCount(out.ORDER_STATUS_FAILED ?? 0);
    renderLag(Array.isArray(f.lag) ? f.lag : []);
    const when = f.time ? new Date(f.time) : new Date();
    $('fleet-updated').textContent = 'updated ' + when.toLocaleTimeString();
}

/* One small bar per partition, scaled to the largest lag (at least 10, so
 * that a lag of 1 does not fill the panel). */
function renderLag(lag) {
    const box = $('fleet-lag');
    const total = lag.reduce((s, p) => s + (Number(p.lag) || 0), 0);
    $('fleet-lag-total').textContent = lag.length ? `(total ${fmtCount(total)})` : '';
    if (!lag.length) {
        box.replaceChildren(el('p', 'lag-empty', 'not known yet'));
        box.setAttribute('aria-label', 'lag per partition: not known yet');
        return;
    }
    const max = Math.max(10, ...lag.map((p) => Number(p.lag) || 0));
    const cols = lag.map((p) => {
        const n = Number(p.lag) || 0;
        const col = el('div', 'lag-col');
        col.dataset.partition = p.partition;
        col.title = `partition ${p.partition}: lag ${n}`;
        const bar = el('div', 'lag-bar' + (n === 0 ? ' zero' : ''));
        bar.style.height = Math.max(2, Math.round((n / max) * 100)) + '%';
        col.append(bar, el('span', 'lag-label', p.partition));
        return col;
    });
    box.replaceChildren(...cols);
    const worst = lag.reduce((a, b) => ((Number(b.lag) || 0) > (Number(a.lag) || 0) ? b : a));
    box.setAttribute('aria-label', `lag per partition: total ${total} over ${lag.length} ` +
        `partitions, largest ${worst.lag} on partition ${worst.partition}`);
}

/* Fills both forms' pickers and keeps their price lines current. */
function setupForms() {
    for (const prefix of ['counter', 'buzzer']) {
        const sku = $(prefix + '-sku');
        for (const item of CATALOG) {
            const o = el('option', '', item.name + (item.inStock ? '' : ' (sold out)'));
            o.value = item.sku;
            sku.append(o);
        }
        const cur = $(prefix + '-currency');
        for (const c of CURRENCIES) {
            const o = el('option', '', c);
            o.value = c;
            cur.append(o);
        }
        const qty = $(prefix + '-quantity');
        const price = $(prefix + '-price');
        const update = () => {
            const item = CATALOG.find((i) => i.sku === sku.value);
            const q = Number(qty.value);
            if (!item) return;
            price.textContent = Number.isInteger(q) && q > 0
                ? `${q} × ${item.name} at ${formatMoney(item.price, cur.value)}` +
                  ` = ${formatMoney(item.price * q, cur.value)}, before tax and shipping`
                : `${item.name} at ${formatMoney(item.price, cur.value)} each`;
        };
        for (const e of [sku, cur, qty]) e.addEventListener('input', update);
        update();
    }
}

document.addEventListener('DOMContentLoaded', () => {
    setupForms();
    setupCounter();
    setupBuzzer();
    setupFleet();
});
