extension StatusPage {
    /// The page at `/`: everything inline (the CSP forbids anything else), built from the JSON
    /// endpoints by its script every few seconds. Data goes into the DOM as text, never as markup.
    /// Stable hooks for tests and scripts: `#state`, `#ready`, `tr[data-relay-url]`,
    /// `tr[data-backend]`, `tr[data-job-id]`, `#chart-jobs rect[data-jobs]`,
    /// `#chart-earnings rect[data-msats]`.
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <link rel="icon" href="data:,">
        <title>pylon</title>
        <style>
        :root { --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --muted: #6b7280; --line: #e5e7eb; --accent: #7c3aed;
                --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --bar: #8b5cf6; --bar2: #f59e0b; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #0f1117; --card: #181b24; --fg: #e5e7eb; --muted: #9ca3af; --line: #2a2f3a; --accent: #a78bfa;
                  --ok: #4ade80; --warn: #fbbf24; --bad: #f87171; --bar: #a78bfa; --bar2: #fbbf24; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg);
               font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        header { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 18px; padding: 14px 22px;
                 background: var(--card); border-bottom: 1px solid var(--line); }
        header h1 { font-size: 20px; margin: 0 6px 0 0; color: var(--accent); letter-spacing: .5px; }
        header .fact { color: var(--muted); }
        header .fact b { color: var(--fg); font-weight: 600; }
        #updated { margin-left: auto; color: var(--muted); font-size: 12px; }
        main { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 16px; padding: 16px 22px; }
        section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; min-width: 0; }
        section.wide { grid-column: 1 / -1; }
        @media (min-width: 1100px) { section.span2 { grid-column: span 2; } }
        h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 0 0 8px; font-weight: 600; }
        h2 small { text-transform: none; letter-spacing: 0; font-weight: 400; margin-left: 6px; }
        table { width: 100%; border-collapse: collapse; }
        th, td { text-align: left; padding: 5px 8px 5px 0; border-top: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 500; font-size: 12px; border-top: 0; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
        td.err { color: var(--bad); font-size: 12.5px; }
        .empty td { color: var(--muted); font-style: italic; }
        .pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
                border: 1px solid currentColor; white-space: nowrap; }
        .good { color: var(--ok); } .meh { color: var(--warn); } .bad { color: var(--bad); } .dim { color: var(--muted); }
        .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(90px, 1fr)); gap: 8px; }
        .figure b { display: block; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
        .figure span { color: var(--muted); font-size: 12px; }
        svg.chart { width: 100%; height: auto; display: block; }
        svg.chart text { fill: var(--muted); font-size: 10px; }
        svg.chart .axis { stroke: var(--line); }
        svg.chart rect.bar { fill: var(--bar); }
        svg.chart rect.bar.money { fill: var(--bar2); }
        #banner { display: none; margin: 12px 22px 0; padding: 8px 12px; border-radius: 8px; border: 1px solid var(--bad); color: var(--bad); }
        #banner.shown { display: block; }
        </style>
        </head>
        <body>
        <header>
          <h1>pylon</h1>
          <span id="state" class="pill dim" data-state="loading">loading</span>
          <span id="ready" class="pill dim">readiness unknown</span>
          <span class="fact">mode <b id="mode">–</b></span>
          <span class="fact">up <b id="uptime">–</b></span>
          <span class="fact">version <b id="version">–</b></span>
          <span class="fact">pid <b id="pid">–</b></span>
          <span id="updated"></span>
        </header>
        <div id="banner" role="alert"></div>
        <noscript><p style="padding: 0 22px">This page needs JavaScript; the same data is at /api/status and /api/jobs.</p></noscript>
        <main>
          <section>
            <h2>Relays</h2>
            <table><thead><tr><th>relay</th><th>state</th><th>since</th></tr></thead><tbody id="relays"></tbody></table>
          </section>
          <section>
            <h2>Backends and models</h2>
            <table><thead><tr><th>backend</th><th>state</th><th>models</th></tr></thead><tbody id="backends"></tbody></table>
          </section>
          <section>
            <h2>Queue and totals</h2>
            <div class="figures">
              <div class="figure"><b id="queue-queued">–</b><span>queued</span></div>
              <div class="figure"><b id="queue-running">–</b><span>running of <span id="queue-slots">–</span> slots</span></div>
              <div class="figure"><b id="queue-max">–</b><span>max queue</span></div>
              <div class="figure"><b id="jobs-completed">–</b><span>jobs completed</span></div>
            </div>
            <div class="figures" style="margin-top: 10px">
              <div class="figure"><b id="earnings-today">–</b><span>earned today (UTC)</span></div>
              <div class="figure"><b id="earnings-week">–</b><span>last 7 days</span></div>
              <div class="figure"><b id="earnings-total">–</b><span>all time</span></div>
            </div>
            <div id="agents" class="dim" style="margin-top: 10px"></div>
          </section>
          <section class="span2">
            <h2>Jobs per hour <small id="jobs-week">last 7 days</small></h2>
            <svg id="chart-jobs" class="chart" viewBox="0 0 760 150" role="img" aria-label="jobs per hour over the last 7 days"></svg>
          </section>
          <section>
            <h2>Earnings per day <small id="earnings-days">last 7 days, UTC</small></h2>
            <svg id="chart-earnings" class="chart" viewBox="0 0 360 150" role="img" aria-label="earnings per day over the last 7 days"></svg>
          </section>
          <section class="wide">
            <h2>Last 20 jobs</h2>
            <table>
              <thead><tr><th>received</th><th>status</th><th>job</th><th>kind</th><th>model</th><th class="num">tokens</th>
                <th class="num">duration</th><th class="num">price</th><th>error</th></tr></thead>
              <tbody id="jobs"></tbody>
            </table>
          </section>
        </main>
        <script>
        "use strict";
        (function () {
          const $ = (id) => document.getElementById(id);
          const SVG = "http://www.w3.org/2000/svg";

          // Elements with text children only: data never becomes markup.
          function el(tag, attrs, ...children) {
            const node = document.createElement(tag);
            for (const [key, value] of Object.entries(attrs || {})) {
              if (value === undefined || value === null) continue;
              if (key === "class") node.className = value; else node.setAttribute(key, String(value));
            }
            for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
            return node;
          }
          function svg(tag, attrs, text) {
            const node = document.createElementNS(SVG, tag);
            for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
            if (text !== undefined) node.textContent = String(text);
            return node;
          }
          function text(id, value) { const node = $(id); if (node) node.textContent = String(value); }
          function pill(state) {
            const tone = { connected: "good", ready: "good", completed: "good", running: "good",
                           connecting: "meh", backing_off: "meh", queued: "meh", awaiting_payment: "meh",
                           closed: "bad", unavailable: "bad", failed: "bad", cancelled: "dim" }[state] || "dim";
            return el("span", { class: "pill " + tone }, String(state).replace("_", " "));
          }
          function duration(secs) {
            secs = Math.max(0, Math.floor(secs));
            const d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600), m = Math.floor(secs % 3600 / 60), s = secs % 60;
            if (d) return d + "d " + h + "h " + m + "m";
            if (h) return h + "h " + m + "m";
            if (m) return m + "m " + s + "s";
            return s + "s";
          }
          function ago(iso) {
            const t = Date.parse(iso);
            return isNaN(t) ? "–" : duration((Date.now() - t) / 1000) + " ago";
          }
          function sats(msats) {
            const value = Number(msats) / 1000;
            return value.toLocaleString("en-US", { maximumFractionDigits: 3 }) + " sats";
          }
          function time(iso) {
            const t = new Date(iso);
            return isNaN(t.getTime()) ? "–" : t.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
          }
          function rows(id, items, columns, make) {
            const body = $(id);
            if (!items.length) { body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: columns }, "none"))); return; }
            body.replaceChildren(...items.map(make));
          }
          async function get(path) {
            const response = await fetch(path, { cache: "no-store", headers: { "Accept": "application/json" } });
            let body = null;
            try { body = await response.json(); } catch (e) { body = null; }
            if (!response.ok && path !== "/readyz") throw new Error(path + ": " + ((body && body.error) || response.status));
            return body;
          }

          function renderStatus(s) {
            const state = $("state");
            state.textContent = s.running ? "running" : "stopped";
            state.dataset.state = s.running ? "running" : "stopped";
            state.className = "pill " + (s.running ? "good" : "bad");
            text("mode", s.mode); text("uptime", duration(s.uptime_secs)); text("version", s.version); text("pid", s.pid);
            rows("relays", s.relays || [], 3, (r) => el("tr", { "data-relay-url": r.url, "data-state": r.state, title: r.last_error || "" },
              el("td", { class: "mono" }, r.url), el("td", {}, pill(r.state), r.last_error ? el("div", { class: "err" }, r.last_error) : ""),
              el("td", { class: "dim" }, r.since ? ago(r.since) : "–")));
            rows("backends", s.backends || [], 3, (b) => el("tr", { "data-backend": b.name, "data-state": b.state },
              el("td", {}, b.name, el("div", { class: "mono dim" }, b.url)), el("td", {}, pill(b.state)),
              el("td", { class: "mono" }, (b.models || []).join(", ") || "–")));
            const q = s.queue || {};
            text("queue-queued", q.queued ?? "–"); text("queue-running", q.running ?? "–"); text("queue-slots", q.slots ?? "–");
            text("queue-max", q.max_queue ?? "–"); text("jobs-completed", s.jobs_completed ?? "–");
            const e = s.earnings || {};
            text("earnings-today", sats(e.today_msats || 0)); text("earnings-week", sats(e.week_msats || 0)); text("earnings-total", sats(e.total_msats || 0));
            const a = s.agents || {};
            text("agents", s.host_active || s.mode !== "provider"
              ? "agents: " + ["active", "low_balance", "dormant", "stopped", "crashed"].map((k) => (a[k] || 0) + " " + k.replace("_", " ")).join(", ")
              : "");
          }
          function renderReady(r) {
            const node = $("ready");
            if (!r || typeof r.ready !== "boolean") { node.textContent = "readiness unknown"; node.className = "pill dim"; return; }
            node.textContent = r.ready ? "ready" : "not ready";
            node.dataset.ready = String(r.ready);
            node.className = "pill " + (r.ready ? "good" : "meh");
            node.title = (r.reasons || []).concat(r.warnings || []).join("; ");
          }
          function renderJobs(jobs) {
            rows("jobs", jobs, 9, (j) => el("tr", { "data-job-id": j.id, "data-status": j.status },
              el("td", { class: "dim" }, time(j.received_at)), el("td", {}, pill(j.status)),
              el("td", { class: "mono", title: j.id }, j.id.slice(0, 12) + "…"), el("td", {}, j.kind),
              el("td", { class: "mono" }, j.model || j.requested_model || "–"),
              el("td", { class: "num" }, j.completion_tokens ?? "–"),
              el("td", { class: "num" }, j.duration_ms == null ? "–" : j.duration_ms + " ms"),
              el("td", { class: "num" }, j.price_msats ? sats(j.price_msats) : "free"),
              el("td", { class: "err" }, j.error || "")));
          }
          // A bar chart: one bar per item, heights scaled to the largest, a label every `every` items.
          function chart(id, items, value, attrs, label, every, money) {
            const node = $(id), box = node.viewBox.baseVal, width = box.width, top = 16, base = box.height - 22;
            const gap = items.length > 30 ? 1 : 8;
            const step = (width - 20) / items.length, max = Math.max(1, ...items.map(value));
            const parts = [svg("line", { class: "axis", x1: 10, x2: width - 10, y1: base + .5, y2: base + .5 }),
                           svg("text", { x: 10, y: 10 }, "max " + (money ? sats(max) : max + " per hour"))];
            items.forEach((item, i) => {
              const v = value(item), h = v ? Math.max(1.5, (base - top) * v / max) : 0, x = 10 + i * step;
              const bar = svg("rect", Object.assign({ class: "bar" + (money ? " money" : ""), x: x.toFixed(2), y: (base - h).toFixed(2),
                                                      width: Math.max(1, step - gap).toFixed(2), height: h.toFixed(2) }, attrs(item)));
              bar.append(svg("title", {}, label(item, true) + ": " + (money ? sats(v) : v + (v === 1 ? " job" : " jobs"))));
              parts.push(bar);
              if (i % every === 0) parts.push(svg("text", { x: x.toFixed(2), y: base + 14 }, label(item, false)));
              if (money && v) parts.push(svg("text", { x: (x + (step - gap) / 2).toFixed(2), y: (base - h - 3).toFixed(2), "text-anchor": "middle" }, sats(v)));
            });
            node.replaceChildren(...parts);
          }
          function renderHistory(h) {
            const hours = h.jobs_per_hour || [], days = h.earnings_per_day || [];
            const total = hours.reduce((sum, b) => sum + b.jobs, 0);
            text("jobs-week", total + (total === 1 ? " job" : " jobs") + " in the last 7 days, by UTC hour");
            chart("chart-jobs", hours, (b) => b.jobs, (b) => ({ "data-hour": b.start, "data-jobs": b.jobs }),
                  (b, full) => full ? b.start.slice(0, 13).replace("T", " ") + ":00 UTC" : b.start.slice(5, 10), 24, false);
            const earned = days.reduce((sum, d) => sum + d.msats, 0);
            text("earnings-days", sats(earned) + " in the last 7 days, by UTC day");
            chart("chart-earnings", days, (d) => d.msats, (d) => ({ "data-day": d.day, "data-msats": d.msats }),
                  (d, full) => full ? d.day : d.day.slice(5), 1, true);
          }

          let ticks = 0;
          async function refresh() {
            const banner = $("banner");
            try {
              const [status, jobs, ready] = await Promise.all([get("/api/status"), get("/api/jobs?limit=20"), get("/readyz")]);
              renderStatus(status); renderJobs(jobs); renderReady(ready);
              if (ticks % 10 === 0) renderHistory(await get("/api/history"));
              ticks += 1;
              banner.className = ""; banner.textContent = "";
              text("updated", "updated " + new Date().toLocaleTimeString());
            } catch (error) {
              const state = $("state");
              state.textContent = "unreachable"; state.dataset.state = "unreachable"; state.className = "pill bad";
              banner.className = "shown"; banner.textContent = "Cannot reach the daemon: " + error.message;
            }
          }
          refresh();
          setInterval(refresh, 3000);
        })();
        </script>
        </body>
        </html>
        """#
}
