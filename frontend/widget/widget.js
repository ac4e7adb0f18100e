/* Retorno's site widget: cashback badges on products, the cart's cashback, and a launcher that
   explains the programme, on the store's own pages (docs/widget.md).

   <script src="https://<brand host>/widget.js" data-key="pk_..." async></script>

   Everything it draws lives in a Shadow DOM, so the store's CSS cannot reach it and its own
   cannot leak; its words, colours and font come from /widget/v1/config, in the page's language.
   Nothing is added to the store's layout until it has something to show, and then only into
   the elements the store marked (data-retorno-price, data-retorno-cart); the launcher is fixed. */
(function () {
  "use strict";
  if (window.Retorno && window.Retorno.version) return;
  var script = document.currentScript || document.querySelector("script[src*='/widget.js'][data-key]");
  if (!script) return;
  var opts = script.dataset;
  var base = new URL(script.src, location.href).origin;
  var lang = /^en/i.test(opts.lang || document.documentElement.lang || "") ? "en" : "pt-BR";
  var token = opts.token || null;
  var config = null;
  var ready = null;
  var carts = [];
  var sheet = null;

  // --- talking to Retorno ----------------------------------------------------------------------
  function call(path, params, body) {
    var url = new URL(base + "/widget/v1/" + path);
    url.searchParams.set("key", opts.key || "");
    url.searchParams.set("lang", lang);
    (params || []).forEach(function (p) { url.searchParams.append(p[0], p[1]); });
    var init = { credentials: "omit", mode: "cors", headers: { "accept-language": lang } };
    if (body) {
      init.method = "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url.toString(), init).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw j; return j; });
    });
  }

  function load() {
    if (!ready) {
      ready = call("config").then(function (c) {
        config = c;
        return fonts(c).then(function () { return c; });
      });
      ready.catch(function () { ready = null; });
    }
    return ready;
  }

  // The brand's font, added to the page's fonts under a name of its own ("Retorno Lora"); at
  // most a short wait, so a slow font never holds the widget back.
  function fonts(c) {
    var f = c.brand.font;
    if (!f.family || !window.FontFace || !document.fonts) return Promise.resolve();
    var loads = Object.keys(f.files).map(function (w) {
      var face = new FontFace(f.family, "url(" + f.files[w] + ")", { weight: w, display: "swap" });
      document.fonts.add(face);
      return face.load().catch(function () {});
    });
    return Promise.race([Promise.all(loads), new Promise(function (r) { setTimeout(r, 800); })]);
  }

  // --- words and numbers -------------------------------------------------------------------------
  function locale() { return lang === "en" ? "en" : "pt-BR"; }
  function money(c) {
    return new Intl.NumberFormat(locale(), { style: "currency", currency: config.currency }).format(c / 100);
  }
  function pct(bp) {
    return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 2 }).format(bp / 10000);
  }
  function day(iso) {
    return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short" }).format(new Date(iso));
  }
  function time(iso) {
    return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
  }
  function word(k, params) {
    return (config.words[k] || "").replace(/%\((\w+)\)s/g, function (_, n) { return params && n in params ? params[n] : ""; });
  }
  // A sentence whose filled-in values are <strong>: "Esta compra gera <strong>R$ 22,97</strong>..."
  function rich(k, params) {
    var parts = (config.words[k] || "").split(/%\((\w+)\)s/);
    return parts.map(function (p, i) { return i % 2 ? h("strong", null, params[p]) : p; });
  }

  // --- drawing -------------------------------------------------------------------------------------
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "on") Object.keys(attrs.on).forEach(function (e) { el.addEventListener(e, attrs.on[e]); });
      else if (attrs[k] != null && attrs[k] !== false) el.setAttribute(k, attrs[k]);
    });
    [].concat(children == null ? [] : children).forEach(function (c) {
      if (c != null) el.append(c instanceof Node ? c : String(c));
    });
    return el;
  }
  function icon(name) {
    var paths = {
      coin: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15.9V19h-2v-1.1c-1.7-.3-3-1.4-3.1-3h2c.1.8.9 1.4 2.1 1.4 1.3 0 2-.6 2-1.4 0-.7-.5-1.2-2.2-1.6-2-.5-3.4-1.3-3.4-3 0-1.4 1.1-2.5 2.6-2.8V6h2v1.1c1.5.3 2.6 1.4 2.7 2.9h-2c-.1-.8-.7-1.3-1.8-1.3-1 0-1.7.5-1.7 1.3 0 .7.6 1 2.2 1.4 2.1.5 3.4 1.4 3.4 3.1 0 1.5-1.1 2.6-2.8 2.9z",
      close: "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z",
      star: "M12 2.5l2.9 6.1 6.6.8-4.9 4.6 1.3 6.6L12 17.3l-5.9 3.3 1.3-6.6L2.5 9.4l6.6-.8z"
    };
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "i");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", paths[name]);
    svg.append(p);
    return svg;
  }

  function css() {
    var b = config.brand, c = b.colors, font = (b.font.family ? "'" + b.font.family + "', " : "") + b.font.stack;
    return ":host{all:initial!important;display:inline-block!important;vertical-align:middle!important;" +
      "max-width:100%!important;contain:content!important}" +
      ":host(retorno-cart){display:block!important;width:100%!important}" +
      ":host(retorno-launcher){position:fixed!important;right:16px!important;bottom:16px!important;" +
      "z-index:2147483000!important;display:block!important;contain:none!important}" +
      ".r{all:initial;box-sizing:border-box;display:block;font-family:" + font + ";font-size:14px;line-height:1.4;" +
      "color:" + c.on_background + ";--p:" + c.primary + ";--op:" + c.on_primary + ";--a:" + c.accent + ";--bg:" +
      c.background + ";--rc:" + b.corners.card + ";--rb:" + b.corners.button + ";-webkit-font-smoothing:antialiased}" +
      ".r *{box-sizing:border-box;font:inherit;color:inherit;margin:0;padding:0;letter-spacing:normal;text-transform:none}" +
      ".r strong{font-weight:700}.i{width:16px;height:16px;flex:none;fill:currentColor}" +
      ".badge{display:inline-flex;align-items:center;gap:5px;height:22px;padding:0 9px;border-radius:var(--rb);" +
      "background:var(--bg);color:var(--p);border:1px solid var(--p);font-size:12px;font-weight:700;white-space:nowrap;" +
      "overflow:hidden;text-overflow:ellipsis;max-width:100%}" +
      ".badge.hi{background:var(--p);color:var(--op)}.badge .i{width:14px;height:14px}" +
      ".pill{display:inline-block;padding:0 6px;border-radius:999px;background:var(--a);color:#1b1b1b;font-size:11px;line-height:16px}" +
      ".card{display:grid;gap:10px;padding:14px;border-radius:var(--rc);background:var(--bg);border:1px solid var(--p)}" +
      ".row{display:flex;align-items:flex-start;gap:8px}.row .i{color:var(--p);margin-top:2px}" +
      ".muted{opacity:.8;font-size:13px}.warn{padding:8px 10px;border-radius:var(--rc);background:#fff4e5;color:#6b3b00;font-size:13px}" +
      ".btn{display:inline-flex;align-items:center;justify-content:center;gap:6px;min-height:40px;padding:8px 16px;" +
      "border-radius:var(--rb);border:0;background:var(--p);color:var(--op);font-weight:700;text-decoration:none;cursor:pointer;text-align:center}" +
      ".btn.q{background:transparent;color:var(--p);border:1px solid var(--p)}" +
      ".btn:focus-visible,.x:focus-visible,.lb:focus-visible,a:focus-visible{outline:3px solid var(--a);outline-offset:2px}" +
      ".code{display:grid;gap:8px;padding:12px;border:2px dashed var(--p);border-radius:var(--rc);background:#fff}" +
      ".code code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:18px;font-weight:700;letter-spacing:.06em;color:var(--p)}" +
      ".acts{display:flex;flex-wrap:wrap;gap:8px}" +
      ".lb{display:inline-flex;align-items:center;gap:8px;height:48px;padding:0 18px 0 14px;border:0;border-radius:999px;" +
      "background:var(--p);color:var(--op);font-weight:700;font-size:15px;cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.25)}" +
      ".lb .i{width:22px;height:22px}" +
      ".shade{position:fixed;inset:0;background:rgba(0,0,0,.4)}" +
      ".panel{position:fixed;right:16px;bottom:16px;width:min(400px,calc(100vw - 32px));max-height:calc(100vh - 32px);overflow:auto;" +
      "border-radius:var(--rc);background:var(--bg);box-shadow:0 10px 40px rgba(0,0,0,.35);display:grid;gap:14px;padding:0 0 18px}" +
      "@media (max-width:480px){.panel{right:0;left:0;bottom:0;width:100%;max-height:88vh;border-radius:var(--rc) var(--rc) 0 0}}" +
      ".top{display:flex;align-items:center;gap:12px;padding:14px 16px;background:var(--p);color:var(--op)}" +
      ".top img{width:40px;height:40px;border-radius:8px;background:#fff;flex:none}" +
      ".top h2{flex:1;font-size:18px;font-weight:700}" +
      ".x{display:grid;place-items:center;width:40px;height:40px;border:0;border-radius:999px;background:transparent;color:var(--op);cursor:pointer}" +
      ".x .i{width:22px;height:22px}.sec{display:grid;gap:8px;padding:0 16px}" +
      ".sec h3{font-size:15px;font-weight:700;color:var(--p)}" +
      ".sec ol,.sec ul{display:grid;gap:6px;padding-left:20px}.rates{list-style:none;padding:0!important}" +
      ".rates li{display:flex;justify-content:space-between;gap:12px;padding:6px 0;border-bottom:1px solid rgba(0,0,0,.08)}" +
      ".rates b{color:var(--p);font-weight:700}.sec a:not(.btn){color:var(--p);text-decoration:underline}";
  }

  function mount(tag, into) {
    var host = document.createElement(tag);
    var root = host.attachShadow({ mode: "open" });
    if (!sheet) sheet = css();
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
      if (typeof sheet === "string") { var s = new CSSStyleSheet(); s.replaceSync(sheet); sheet = s; }
      root.adoptedStyleSheets = [sheet];
    } else {
      root.__style = h("style", null, typeof sheet === "string" ? sheet : css());
      root.append(root.__style);
    }
    into.append(host);
    return root;
  }

  // --- product badges ------------------------------------------------------------------------------
  function centavos(v) {
    v = String(v == null ? "" : v).trim();
    if (/^\d+$/.test(v)) return parseInt(v, 10);
    var m = /^(\d{1,3}(?:[.\s]?\d{3})*|\d+)[,.](\d{2})$/.exec(v);
    return m ? parseInt(m[1].replace(/[.\s]/g, ""), 10) * 100 + parseInt(m[2], 10) : NaN;
  }

  function badges(list) {
    list = list.filter(function (x) { return x.price > 0 && !x.el.__retorno; });
    if (!list.length) return Promise.resolve();
    list.forEach(function (x) { x.el.__retorno = true; });
    return load().then(function () {
      var chunks = [];
      for (var i = 0; i < list.length; i += 60) chunks.push(list.slice(i, i + 60));
      return Promise.all(chunks.map(function (chunk) {
        var params = chunk.map(function (x) { return ["p", x.price + (x.category ? ":" + x.category : "")]; });
        return call("quote/product", params).then(function (a) {
          a.quotes.forEach(function (q, i) { if (q.cashback > 0 || q.points > 0) badge(chunk[i].el, q); });
        });
      }));
    }).catch(function () { list.forEach(function (x) { x.el.__retorno = false; }); });
  }

  function badge(el, q) {
    var root = mount("retorno-badge", el);
    var text = q.cashback > 0 ? word("badge", { amount: money(q.cashback) }) : "";
    if (q.points_text) text = text ? text + " + " + q.points_text : word("badge_points", { points: q.points_text });
    root.append(h("span", {
      class: "r badge" + (q.highlighted ? " hi" : ""), role: "note",
      title: q.highlighted ? word("badge_more", { rate: pct(q.rate_bp) }) : null,
      "data-cashback": q.cashback, "data-points": q.points || null
    }, [icon(q.highlighted ? "star" : "coin"), h("span", { class: "t" }, text),
        q.highlighted ? h("span", { class: "pill" }, pct(q.rate_bp)) : null]));
  }

  // --- the cart ------------------------------------------------------------------------------------
  function cart(order, el) {
    el = el || document.querySelector("[data-retorno-cart]");
    if (!el) return Promise.resolve();
    if (order.token !== undefined) token = order.token;
    var entry = carts.find(function (c) { return c.el === el; });
    if (!entry) { entry = { el: el }; carts.push(entry); }
    entry.order = { total: order.total | 0, shipping: order.shipping | 0, items: order.items || null };
    return load().then(function () {
      return call("quote/cart", null, Object.assign({ token: token }, entry.order));
    }).then(function (q) { drawCart(entry, q); }, function () { drawCart(entry, null); });
  }

  function drawCart(entry, q) {
    if (!entry.root) entry.root = mount("retorno-cart", entry.el);
    var root = entry.root, kids = [];
    if (!q) {
      if (!config) { root.host.remove(); entry.root = null; return; }
      kids.push(h("p", { class: "warn", role: "status" }, word("load_error")));
    } else {
      if (q.earn > 0) kids.push(h("p", { class: "row earn" }, [icon("coin"), h("span", null, rich("cart_earn", { amount: money(q.earn) }))]));
      else if (q.below_min_purchase) kids.push(h("p", { class: "row earn" }, [icon("coin"), h("span", null, rich("cart_below_min", { amount: money(config.rates.min_purchase) }))]));
      if (q.points_text) kids.push(h("p", { class: "row earn points" }, [icon("star"), h("span", null, rich("cart_points", { points: q.points_text }))]));
      if (q.token_error) kids.push(h("p", { class: "warn", role: "status", "data-reason": q.token_error.reason }, q.token_error.message));
      if (q.shopper) {
        var s = q.shopper;
        kids.push(h("p", { class: "balance" }, rich("balance", { amount: money(s.available) })));
        if (s.points_text) kids.push(h("p", { class: "balance points" }, rich("balance_points", { points: s.points_text })));
        if (s.usable > 0) {
          kids.push(h("p", { class: "usable" }, rich("usable", { amount: money(s.usable) })));
          if (s.reason === "max_share" && s.message) kids.push(h("p", { class: "muted" }, s.message));
          if (s.checkout_codes) {
            var use = h("button", { class: "btn use", type: "button" }, word("use", { amount: money(s.usable) }));
            use.addEventListener("click", function () { useCode(entry, s.usable, use); });
            kids.push(h("div", { class: "acts" }, use));
          }
        } else if (s.message) {
          kids.push(h("p", { class: "muted reason", "data-reason": s.reason }, s.message));
        }
      } else {
        kids.push(h("p", { class: "muted" }, word("join_pitch")));
        kids.push(h("div", { class: "acts" }, h("a", { class: "btn join", href: config.links.join, target: "_blank", rel: "noopener" }, word("join"))));
      }
    }
    var box = h("div", { class: "r card", "aria-live": "polite" }, kids);
    root.replaceChildren.apply(root, root.__style ? [root.__style, box] : [box]);
  }

  function useCode(entry, amount, button) {
    button.disabled = true;
    call("checkout-code", null, { token: token, amount: amount, order_total: entry.order.total }).then(function (held) {
      var copy = h("button", { class: "btn q", type: "button" }, word("copy"));
      copy.addEventListener("click", function () {
        (navigator.clipboard ? navigator.clipboard.writeText(held.code) : Promise.reject()).then(function () {
          copy.textContent = word("copied");
        }, function () {});
      });
      var acts = [copy];
      if (held.apply_url) acts.unshift(h("a", { class: "btn", href: held.apply_url }, word("apply")));
      button.parentNode.replaceWith(h("div", { class: "code", role: "status" }, [
        h("p", null, h("strong", null, word("code_title"))), h("code", null, held.code),
        h("div", { class: "acts" }, acts), h("p", { class: "muted" }, word("code_help", { time: time(held.expires_at) }))
      ]));
    }, function (e) {
      button.disabled = false;
      var p = h("p", { class: "warn", role: "alert" }, (e && e.detail) || word("code_error"));
      button.parentNode.after(p);
    });
  }

  // --- the launcher and its panel ------------------------------------------------------------------
  var launcher = null;
  function drawLauncher() {
    if (launcher || !config.launcher || opts.launcher === "off" || opts.launcher === "false") return;
    var root = mount("retorno-launcher", document.body);
    var title = word("panel_title", { brand: config.brand.name });
    var button = h("button", { class: "lb", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" },
      [icon("coin"), h("span", null, word("launcher"))]);
    var wrap = h("div", { class: "r" }, button);
    root.append(wrap);
    var panel = null;
    function close() {
      if (!panel) return;
      panel.remove(); panel = null;
      button.setAttribute("aria-expanded", "false");
      button.focus();
    }
    function open() {
      if (panel) return;
      panel = h("div", null, [h("div", { class: "shade", on: { click: close } }), dialog(title, close)]);
      wrap.append(panel);
      button.setAttribute("aria-expanded", "true");
      panel.querySelector(".x").focus();
    }
    button.addEventListener("click", open);
    root.addEventListener("keydown", function (e) {
      if (!panel) return;
      if (e.key === "Escape") { e.preventDefault(); close(); return; }
      if (e.key !== "Tab") return;
      var f = [].slice.call(panel.querySelectorAll("a[href],button"));
      var first = f[0], last = f[f.length - 1], at = root.activeElement;
      if (e.shiftKey && at === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && at === last) { e.preventDefault(); first.focus(); }
    });
    launcher = { open: open, close: close };
  }

  function dialog(title, close) {
    var r = config.rates, red = config.redemption, how = [word("how_earn", { rate: pct(r.base_bp) })];
    how.push(r.pending_days > 0 ? word("how_wait", { days: r.pending_days }) : word("how_now"));
    how.push(red.min_order > 0 ? word("how_use", { amount: money(red.min_order), share: pct(red.max_share_bp) })
      : word("how_use_any", { share: pct(red.max_share_bp) }));
    if (r.expiry_days > 0) how.push(word("how_expiry", { days: r.expiry_days }));
    var rates = [[word("rate_base"), pct(r.base_bp)]];
    r.bands.forEach(function (b) { if (b.from > 0) rates.push([word("rate_from", { amount: money(b.from) }), pct(b.rate_bp)]); });
    Object.keys(r.categories).forEach(function (c) { rates.push([c.charAt(0).toUpperCase() + c.slice(1), pct(r.categories[c])]); });
    var x = h("button", { class: "x", type: "button", "aria-label": word("close"), on: { click: close } }, icon("close"));
    return h("div", { class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "rt-title" }, [
      h("div", { class: "top" }, [h("img", { src: config.brand.logo, alt: "", width: 40, height: 40 }), h("h2", { id: "rt-title" }, title), x]),
      h("div", { class: "sec" }, h("p", null, word("panel_intro"))),
      h("div", { class: "sec" }, [h("h3", null, word("how_title")), h("ol", null, how.map(function (t) { return h("li", null, t); }))]),
      h("div", { class: "sec" }, [h("h3", null, word("rates_title")), h("ul", { class: "rates" },
        rates.map(function (x) { return h("li", null, [h("span", null, x[0]), h("b", null, x[1])]); })
          .concat(r.campaigns.map(function (c) {
            return h("li", { class: "campaign" }, h("span", null, word("campaign", { name: c.name, multiplier: c.multiplier_x100 / 100, date: day(c.ends) })));
          })))]),
      r.min_purchase > 0 ? h("div", { class: "sec" }, h("p", { class: "muted" }, word("min_purchase", { amount: money(r.min_purchase) }))) : null,
      h("div", { class: "sec" }, [h("div", { class: "acts" }, [
        h("a", { class: "btn", href: config.links.join, target: "_blank", rel: "noopener" }, word("join_programme")),
        h("a", { class: "btn q", href: config.links.app, target: "_blank", rel: "noopener" }, word("open_app"))]),
        h("p", null, h("a", { href: config.links.regulations, target: "_blank", rel: "noopener" }, word("regulations")))])
    ]);
  }

  // --- the page --------------------------------------------------------------------------------------
  function scan() {
    var found = [].slice.call(document.querySelectorAll("[data-retorno-price]")).map(function (el) {
      return { el: el, price: centavos(el.dataset.retornoPrice), category: el.dataset.retornoCategory || "" };
    });
    var jobs = [badges(found)];
    [].slice.call(document.querySelectorAll("[data-retorno-cart]")).forEach(function (el) {
      if (carts.some(function (c) { return c.el === el; })) return;
      var items = null;
      try { items = el.dataset.items ? JSON.parse(el.dataset.items) : null; } catch (e) { items = null; }
      jobs.push(cart({ total: centavos(el.dataset.total), shipping: centavos(el.dataset.shipping || 0) || 0, items: items }, el));
    });
    jobs.push(load().then(drawLauncher, function () {}));
    return Promise.all(jobs);
  }

  window.Retorno = {
    version: 1,
    product: function (el, p) { return badges([{ el: el, price: centavos(p.price), category: p.category || "" }]); },
    cart: cart,
    identify: function (t) {
      token = t || null;
      return Promise.all(carts.map(function (c) { return cart(c.order, c.el); }));
    },
    open: function () { return load().then(function () { drawLauncher(); if (launcher) launcher.open(); }); },
    close: function () { if (launcher) launcher.close(); },
    refresh: scan
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
