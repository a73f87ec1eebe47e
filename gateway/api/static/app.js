// Dropship Gateway dashboard: plain JavaScript, no framework, no network beyond the gateway.
// Everything it shows comes from the public API with the rights of whoever logged in; data is
// put on the page as text (never as HTML), so nothing an order carries can run here.
"use strict";

const T = {
  en: {
    title: "Dropship Gateway", tab_overview: "Overview", tab_exceptions: "Exceptions",
    tab_orders: "Orders", tab_kpis: "KPIs", tab_alerts: "Alerts", logout: "Log out",
    login_title: "Log in", token: "API token", login: "Log in", orders_total: "Orders",
    throughput: "Orders per second", last_minute: "Received, last minute", on_hold_card: "On hold", on_hold: "on hold",
    alerts_open: "Open alerts", by_status: "Orders by status", suppliers: "Suppliers",
    supplier: "Supplier", state: "State", circuit: "Circuit", p95: "p95 latency",
    error_rate: "Error rate", in_flight: "In flight", queue: "Queue",
    share: "Share of volume (24 h)", updated: "Updated", exception_queue: "Exception queue",
    order: "Order", external_id: "External id", channel: "Channel", reason: "Reason",
    since: "Since", actions: "Actions", no_exceptions: "No order is on hold.",
    order_search: "Order search", search_id: "Order id (ord_…)", any_status: "Any status",
    search: "Search", status: "Status", more: "More", show: "Show", last_1: "Last 24 hours",
    last_7: "Last 7 days", last_30: "Last 30 days", kind: "Kind", severity: "Severity",
    subject: "Subject", message: "Message", fired_at: "Fired", resolved_at: "Resolved",
    cancel: "Cancel", retry: "Retry", release: "Release", reroute: "Reroute",
    confirm_cancel: "Cancel order {id}? What has not shipped is cancelled.",
    action_done: "{action}: done for {id}", action_failed: "{action} failed for {id}: {message}",
    connected: "live", disconnected: "reconnecting…", open_access: "open access (loopback)",
    ship_to: "Ship to", name: "Name", phone: "Phone", region: "Region", address: "Address",
    show_address: "Show full address", purchase_orders: "Purchase orders", timeline: "Timeline",
    routing: "Routing explanation", lines: "Lines", shipments: "Shipments", type: "Type", at: "At",
    data: "Details", priority: "Priority", created_at: "Created", received_at: "Received",
    hold_reason: "Hold reason", not_found: "No order {id}", orders_per_day: "Orders per day",
    per_channel: "Per channel", to_dispatched: "Received → dispatched",
    to_shipped: "Received → shipped", avg: "average", exception_rate: "Exception rate",
    exceptions_by_type: "Exceptions by type", on_time: "On time (SLA {h} h)", on_time_rate: "On time", share_range: "Share",
    purchase_orders_short: "POs", top_skus: "Top SKUs", idle_skus: "No sales in {n} days",
    quantity: "Units", count: "Count", rate: "Rate", never: "never", none: "none",
    sku: "SKU", last_sold: "Last sold", due: "Due", shipped_n: "Shipped",
    received: "received", routed: "routed", dispatched: "dispatched", acknowledged: "acknowledged",
    partially_shipped: "partially shipped", shipped: "shipped", delivered: "delivered",
    rejected: "rejected", cancelled: "cancelled", up: "up", degraded: "degraded", down: "down",
    closed: "closed", open: "open", half_open: "half open", pending: "pending", sent: "sent",
    accepted: "accepted", failed: "failed",
  },
  zh: {
    title: "一件代发网关", tab_overview: "总览", tab_exceptions: "异常订单", tab_orders: "订单查询",
    tab_kpis: "经营指标", tab_alerts: "告警", logout: "退出", login_title: "登录",
    token: "API 令牌", login: "登录", orders_total: "订单总数", throughput: "每秒订单",
    last_minute: "近一分钟接收", on_hold_card: "异常挂起", on_hold: "异常挂起", alerts_open: "未恢复告警",
    by_status: "各状态订单", suppliers: "供应商", supplier: "供应商", state: "状态",
    circuit: "熔断", p95: "p95 延迟", error_rate: "错误率", in_flight: "处理中", queue: "排队",
    share: "24 小时分单占比", updated: "更新于", exception_queue: "异常队列", order: "订单",
    external_id: "外部单号", channel: "渠道", reason: "原因", since: "时间", actions: "操作",
    no_exceptions: "没有挂起的订单。", order_search: "订单查询", search_id: "订单号 (ord_…)",
    any_status: "全部状态", search: "查询", status: "状态", more: "更多", show: "显示",
    last_1: "近 24 小时", last_7: "近 7 天", last_30: "近 30 天", kind: "类型",
    severity: "级别", subject: "对象", message: "详情", fired_at: "触发时间",
    resolved_at: "恢复时间", cancel: "取消订单", retry: "重试", release: "放行", reroute: "改派",
    confirm_cancel: "取消订单 {id}?未发货部分将被取消。", action_done: "{action}:{id} 已完成",
    action_failed: "{action} 失败({id}):{message}",
    connected: "实时", disconnected: "重新连接中…", open_access: "开放访问(仅本机)",
    ship_to: "收货信息", name: "收货人", phone: "电话", region: "地区", address: "地址",
    show_address: "查看完整地址", purchase_orders: "采购单", timeline: "时间线",
    routing: "分单说明", lines: "明细", shipments: "发货", type: "事件", at: "时间",
    data: "内容", priority: "优先级", created_at: "下单时间", received_at: "接收时间",
    hold_reason: "挂起原因", not_found: "没有订单 {id}", orders_per_day: "每日订单",
    per_channel: "各渠道", to_dispatched: "接收 → 下发", to_shipped: "接收 → 发货", avg: "平均",
    exception_rate: "异常率", exceptions_by_type: "异常类型", on_time: "准时发货率(时限 {h} 小时)", on_time_rate: "准时率", share_range: "占比",
    purchase_orders_short: "采购单", top_skus: "热销商品", idle_skus: "{n} 天无销量(滞销)",
    quantity: "件数", count: "数量", rate: "比例", never: "从未", none: "无", sku: "商品",
    last_sold: "最近售出", due: "应发", shipped_n: "已发",
    received: "已接收", routed: "已分单", dispatched: "已下发", acknowledged: "已确认",
    partially_shipped: "部分发货", shipped: "已发货", delivered: "已签收", rejected: "已拒绝",
    cancelled: "已取消", up: "正常", degraded: "降级", down: "停摆", closed: "关闭",
    open: "打开", half_open: "半开", pending: "待发送", sent: "已发送", accepted: "已接单",
    failed: "发送失败",
  },
};
const STATUSES = ["received", "routed", "dispatched", "acknowledged", "partially_shipped",
  "shipped", "delivered", "on_hold", "rejected", "cancelled"];

const state = {
  lang: localStorage.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
  session: null, tab: "overview", stream: null, last: null, rates: [], cursor: null, onHold: null,
};

const $ = (selector) => document.querySelector(selector);

function t(key, values) {
  let text = (T[state.lang] && T[state.lang][key]) || T.en[key] || key;
  for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
  return text;
}

// h("td", {class: "num"}, "12") builds an element; strings become text nodes, never HTML.
function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function pct(value) { return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`; }
function when(text) { return text ? new Date(text).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB") : "–"; }
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.session && state.session.csrf_token) {
    headers["X-CSRF-Token"] = state.session.csrf_token;
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  return { status: response.status, ok: response.ok, data };
}

function errorText(result) {
  return (result.data && result.data.error && result.data.error.message) || `HTTP ${result.status}`;
}

// -- language ---------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  $("#lang").textContent = state.lang === "zh" ? "English" : "中文";
  renderWho();
  if (state.last) renderSnapshot(state.last.snapshot);
}

// -- session ----------------------------------------------------------------------------------

async function loadSession() {
  const result = await api("GET", "/api/v1/session");
  if (result.status === 404) {
    // A gateway without access control (loopback only): everything is open.
    state.session = { name: "", role: "admin", via: "open", sees_personal_data: false };
  } else if (result.ok) {
    state.session = result.data;
  } else {
    state.session = null;
  }
  if (state.session) start(); else showLogin();
}

function renderWho() {
  const who = $("#who");
  const session = state.session;
  if (!session) { who.textContent = ""; return; }
  who.textContent = session.via === "open" ? t("open_access") : `${session.name} · ${session.role}`;
  $("#logout").hidden = session.via !== "session";
}

function showLogin() {
  stopStream();
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = true;
  $("#tabs").hidden = true;
  $("#login").hidden = false;
  renderWho();
  $("#token").focus();
}

async function login(event) {
  event.preventDefault();
  const result = await api("POST", "/api/v1/session", { token: $("#token").value });
  $("#token").value = "";
  if (!result.ok) { $("#login-error").textContent = errorText(result); return; }
  $("#login-error").textContent = "";
  state.session = result.data;
  start();
}

async function logout() {
  await api("DELETE", "/api/v1/session");
  state.session = null;
  showLogin();
}

function canAct() { return state.session && ["operator", "admin"].includes(state.session.role); }

// -- tabs and the live stream -------------------------------------------------------------------

function start() {
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  renderWho();
  startStream();
  showTab(location.hash.slice(1) || state.tab);
}

function showTab(name) {
  if (!document.getElementById(name) || !document.getElementById(name).classList.contains("tab")) name = "overview";
  state.tab = name;
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== name;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  if (location.hash.slice(1) !== name) history.replaceState(null, "", `#${name}`);
  if (name === "exceptions") loadExceptions();
  if (name === "orders") searchOrders();
  if (name === "kpis") loadKpis();
  if (name === "alerts") loadAlerts();
}

function startStream() {
  stopStream();
  const stream = new EventSource("/api/v1/live");
  stream.addEventListener("snapshot", (event) => onSnapshot(JSON.parse(event.data)));
  stream.onerror = async () => {
    $("#updated").textContent = t("disconnected");
    const check = await api("GET", "/api/v1/session");
    if (check.status === 401) { state.session = null; showLogin(); }
  };
  state.stream = stream;
}

function stopStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

function onSnapshot(snapshot) {
  const at = Date.parse(snapshot.at);
  if (state.last && at > state.last.at) {
    const rate = Math.max(0, (snapshot.orders.total - state.last.snapshot.orders.total) / ((at - state.last.at) / 1000));
    state.rates.push(rate);
    if (state.rates.length > 60) state.rates.shift();
  }
  state.last = { at, snapshot };
  renderSnapshot(snapshot);
  const onHold = snapshot.orders.by_status.on_hold || 0;
  if (state.tab === "exceptions" && onHold !== state.onHold) loadExceptions();
  state.onHold = onHold;
}

function renderSnapshot(snapshot) {
  const orders = snapshot.orders;
  $("#orders-total").textContent = orders.total;
  $("#last-minute").textContent = orders.received_last_minute;
  $("#on-hold").textContent = orders.by_status.on_hold || 0;
  $("#alerts-open").textContent = snapshot.alerts_open.length;
  const rate = state.rates.length ? state.rates[state.rates.length - 1] : 0;
  $("#throughput").textContent = rate.toFixed(1);
  drawSpark();
  fill($("#status-table tbody"), [
    h("tr", {}, STATUSES.map((s) => h("th", {}, t(s)))),
    h("tr", {}, STATUSES.map((s) => h("td", { class: "num", "data-status": s }, orders.by_status[s] || 0))),
  ]);
  fill($("#supplier-table tbody"), snapshot.suppliers.map((s) => h("tr", { "data-supplier": s.supplier_id },
    h("td", { title: s.name }, s.supplier_id),
    h("td", { class: `state-${s.state}` }, t(s.state)),
    h("td", {}, t(s.circuit)),
    h("td", { class: "num" }, s.latency_p95_ms === null ? "–" : `${Math.round(s.latency_p95_ms)} ms`),
    h("td", { class: "num" }, pct(s.error_rate)),
    h("td", { class: "num" }, s.in_flight),
    h("td", { class: "num" }, s.queue_depth),
    h("td", { class: "num" }, pct(s.share_24h)),
  )));
  $("#updated").textContent = `${when(snapshot.at)} (${t("connected")})`;
}

function drawSpark() {
  const svg = $("#spark");
  const values = state.rates;
  const top = Math.max(1, ...values);
  const points = values.map((v, i) => `${(i / Math.max(1, 59)) * 120},${30 - (v / top) * 28}`).join(" ");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  svg.replaceChildren(line);
}

// -- exceptions -------------------------------------------------------------------------------

async function loadExceptions() {
  const result = await api("GET", "/api/v1/orders?status=on_hold&limit=200");
  if (!result.ok) { $("#exception-message").textContent = errorText(result); return; }
  const orders = result.data.orders;
  $("#no-exceptions").hidden = orders.length > 0;
  fill($("#exception-table tbody"), orders.map((o) => h("tr", { "data-order-id": o.order_id },
    h("td", {}, h("a", { href: "#orders", onclick: () => openOrder(o.order_id) }, o.order_id)),
    h("td", {}, o.external_id),
    h("td", {}, o.channel),
    h("td", {}, o.hold_reason || "–"),
    h("td", {}, when(o.updated_at)),
    h("td", {}, canAct() ? h("div", { class: "actions" },
      h("button", { class: "danger", "data-action": "cancel", onclick: () => act("cancel", o.order_id) }, t("cancel")),
    ) : "–"),
  )));
}

// The actions this gateway offers on a held order: cancel (POST /orders/{id}/cancel). The
// contract's other exception actions (retry, reroute, edit_address, release) get their buttons
// once the API has them.
async function act(action, orderId) {
  if (action === "cancel" && !confirm(t("confirm_cancel", { id: orderId }))) return;
  const result = await api("POST", `/api/v1/orders/${encodeURIComponent(orderId)}/cancel`, {});
  const message = $("#exception-message");
  if (result.ok) message.textContent = t("action_done", { action: t(action), id: orderId });
  else message.textContent = t("action_failed", { action: t(action), id: orderId, message: errorText(result) });
  loadExceptions();
}

// -- orders -----------------------------------------------------------------------------------

function orderQuery() {
  const params = new URLSearchParams({ limit: "50" });
  for (const [name, id] of [["status", "#search-status"], ["channel", "#search-channel"], ["supplier", "#search-supplier"]]) {
    if ($(id).value.trim()) params.set(name, $(id).value.trim());
  }
  return params;
}

async function searchOrders(event, more) {
  if (event) event.preventDefault();
  const id = $("#search-id").value.trim();
  if (id && !more) { openOrder(id); return; }
  const params = orderQuery();
  if (more && state.cursor) params.set("cursor", state.cursor);
  const result = await api("GET", `/api/v1/orders?${params}`);
  if (!result.ok) return;
  state.cursor = result.data.next_cursor;
  $("#more-orders").hidden = !state.cursor;
  const rows = result.data.orders.map((o) => h("tr", { class: "clickable", onclick: () => openOrder(o.order_id) },
    h("td", {}, o.order_id), h("td", {}, o.external_id), h("td", {}, o.channel),
    h("td", {}, t(o.status)), h("td", {}, when(o.updated_at))));
  const body = $("#order-table tbody");
  if (more) body.append(...rows); else fill(body, rows);
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v ?? "–")]));
}

async function openOrder(orderId) {
  if (state.tab !== "orders") showTab("orders");
  const detail = $("#order-detail");
  detail.hidden = false;
  const result = await api("GET", `/api/v1/orders/${encodeURIComponent(orderId)}`);
  if (!result.ok) { detail.replaceChildren(h("p", { class: "error" }, result.status === 404 ? t("not_found", { id: orderId }) : errorText(result))); return; }
  const o = result.data;
  const ship = o.ship_to || {};
  const address = h("div", { id: "ship-to" }, kv([
    ["name", ship.name], ["phone", ship.phone],
    ["region", [ship.province, ship.city, ship.district].filter(Boolean).join(" ")],
  ]));
  if (state.session && state.session.sees_personal_data) {
    address.append(h("button", { id: "show-address", onclick: () => showAddress(o.order_id, address) }, t("show_address")));
  }
  const pos = h("table", {}, h("thead", {}, h("tr", {}, ["purchase_orders", "supplier", "status", "lines", "shipments"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, o.purchase_orders.map((po) => h("tr", {},
      h("td", {}, po.po_id), h("td", {}, po.supplier_id),
      h("td", {}, t(po.status) + (po.reason ? ` (${po.reason})` : "")),
      h("td", {}, po.lines.map((l) => `${l.sku} × ${l.quantity}`).join(", ")),
      h("td", {}, po.shipments.map((s) => `${s.carrier} ${s.tracking_number}`).join(", ") || "–")))));
  const timeline = h("table", { id: "timeline" }, h("thead", {}, h("tr", {}, ["at", "type", "supplier", "data"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, o.timeline.map((e) => h("tr", {},
      h("td", {}, when(e.at)), h("td", {}, e.type), h("td", {}, e.supplier_id || ""),
      h("td", {}, summarize(e.data))))));
  detail.replaceChildren(
    h("h2", {}, `${t("order")} ${o.order_id}`),
    h("div", { class: "grid2" },
      kv([["external_id", o.external_id], ["channel", o.channel], ["status", t(o.status)],
        ["hold_reason", o.hold_reason], ["priority", o.priority], ["created_at", when(o.created_at)],
        ["received_at", when(o.received_at)], ["updated", when(o.updated_at)]]),
      h("div", {}, h("h2", {}, t("ship_to")), address)),
    h("h2", {}, t("purchase_orders")), pos,
    h("h2", {}, t("timeline")), timeline,
  );
  const routing = await api("GET", `/api/v1/orders/${encodeURIComponent(orderId)}/routing`);
  if (routing.ok) detail.append(h("h2", {}, t("routing")), h("pre", {}, JSON.stringify(routing.data, null, 2)));
}

function summarize(data) {
  return Object.entries(data || {}).filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`).join(", ");
}

async function showAddress(orderId, container) {
  const result = await api("GET", `/api/v1/orders/${encodeURIComponent(orderId)}/ship_to`);
  if (!result.ok) { container.append(h("p", { class: "error" }, errorText(result))); return; }
  const a = result.data.ship_to || result.data;
  container.replaceChildren(kv([["name", a.name], ["phone", a.phone],
    ["address", [a.province, a.city, a.district, a.address1, a.address2, a.postal_code].filter(Boolean).join(" ")]]));
}

// -- KPIs ---------------------------------------------------------------------------------------

async function loadKpis(event) {
  if (event) event.preventDefault();
  const now = new Date();
  const from = new Date(now.getTime() - Number($("#kpi-days").value) * 86400000);
  const params = new URLSearchParams({ from: from.toISOString(), to: now.toISOString() });
  if ($("#kpi-channel").value.trim()) params.set("channel", $("#kpi-channel").value.trim());
  if ($("#kpi-supplier").value.trim()) params.set("supplier", $("#kpi-supplier").value.trim());
  const result = await api("GET", `/api/v1/kpis?${params}`);
  const body = $("#kpi-body");
  if (!result.ok) { body.replaceChildren(h("p", { class: "error" }, errorText(result))); return; }
  const k = result.data;
  const lat = k.latency;
  const days = k.orders.per_day;
  const top = Math.max(1, ...days.map((d) => d.orders));
  const table = (heads, rows) => h("table", {}, h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, t(x))))), h("tbody", {}, rows));
  body.replaceChildren(
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "label" }, t("orders_total")), h("div", { class: "big", id: "kpi-total" }, k.orders.total)),
      h("div", { class: "card" }, h("div", { class: "label" }, t("to_dispatched")),
        h("div", { class: "big" }, duration(lat.received_to_dispatched.avg_s)), `p95 ${duration(lat.received_to_dispatched.p95_s)}`),
      h("div", { class: "card" }, h("div", { class: "label" }, t("to_shipped")),
        h("div", { class: "big" }, duration(lat.received_to_shipped.avg_s)), `p95 ${duration(lat.received_to_shipped.p95_s)}`),
      h("div", { class: "card" }, h("div", { class: "label" }, t("exception_rate")), h("div", { class: "big" }, pct(k.exceptions.rate)))),
    h("h2", {}, t("orders_per_day")),
    h("div", { class: "bars", id: "per-day" }, days.map((d) => h("div", { style: null, title: `${d.day}: ${d.orders}`, "data-height": d.orders / top }))),
    h("div", { class: "bar-labels" }, h("span", {}, days.length ? days[0].day : ""), h("span", {}, days.length ? days[days.length - 1].day : "")),
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, t("per_channel")), table(["channel", "count", "rate"],
        k.orders.per_channel.map((c) => h("tr", {}, h("td", {}, c.channel), h("td", { class: "num" }, c.orders), h("td", { class: "num" }, pct(c.share)))))),
      h("div", {}, h("h2", {}, t("exceptions_by_type")), table(["reason", "count", "rate"],
        k.exceptions.by_type.map((e) => h("tr", {}, h("td", {}, e.type), h("td", { class: "num" }, e.count), h("td", { class: "num" }, pct(e.rate))))))),
    h("h2", {}, t("suppliers")),
    table(["supplier", "purchase_orders_short", "share_range", "shipped_n", "due", "on_time_rate"],
      k.suppliers.map((s) => h("tr", {}, h("td", {}, s.supplier_id), h("td", { class: "num" }, s.purchase_orders),
        h("td", { class: "num" }, pct(s.share)), h("td", { class: "num" }, s.shipped), h("td", { class: "num" }, s.due),
        h("td", { title: t("on_time", { h: s.sla_h }) }, meter(s.on_time_rate), pct(s.on_time_rate))))),
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, t("top_skus")), table(["sku", "quantity", "count"],
        k.skus.top.map((s) => h("tr", {}, h("td", {}, s.sku), h("td", { class: "num" }, s.quantity), h("td", { class: "num" }, s.orders))))),
      h("div", {}, h("h2", {}, t("idle_skus", { n: k.skus.idle_days })), table(["sku", "last_sold"],
        k.skus.idle.map((s) => h("tr", {}, h("td", {}, s.sku), h("td", {}, s.last_sold_day || t("never"))))))),
  );
  // Bar heights are set through the CSSOM: the page's policy allows no inline style attributes.
  for (const bar of body.querySelectorAll("#per-day div")) bar.style.height = `${Number(bar.dataset.height) * 100}%`;
}

function meter(rate) {
  const bar = h("span", {});
  bar.style.width = `${(rate || 0) * 100}%`;
  return h("span", { class: "meter" }, bar);
}

// -- alerts -------------------------------------------------------------------------------------

async function loadAlerts() {
  const result = await api("GET", "/api/v1/alerts");
  if (!result.ok) return;
  fill($("#alert-table tbody"), result.data.alerts.map((a) => h("tr", {},
    h("td", {}, a.kind), h("td", { class: `sev-${a.severity}` }, a.severity),
    h("td", {}, Object.entries(a.subject).map(([k, v]) => `${k}=${v}`).join(", ") || "–"),
    h("td", {}, a.message), h("td", {}, when(a.fired_at)), h("td", {}, when(a.resolved_at)))));
}

// -- start ----------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const select = $("#search-status");
  for (const s of STATUSES) select.append(h("option", { value: s, "data-i18n": s }, t(s)));
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("lang", state.lang);
    applyLanguage();
  });
  $("#search-form").addEventListener("submit", (event) => searchOrders(event, false));
  $("#more-orders").addEventListener("click", () => searchOrders(null, true));
  $("#kpi-form").addEventListener("submit", loadKpis);
  applyLanguage();
  loadSession();
});
