// Rendering: a DeploymentPlan (from the `plan` event's JSON) as tables, steps, artifacts and a
// cost chart; and a small, escaping Markdown renderer for the other assistant messages.
// Every string from the server goes in through textContent or is HTML-escaped first.
"use strict";

const Render = (() => {
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const money = (v) => (v === null || v === undefined ? "–"
    : "$" + Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
  // An option's weights: the precision, and the build when it is not the base model.
  const weights = (g) => (!g.precision ? "–" : g.build_repo ? `${g.precision} (${g.build_repo})` : g.precision);
  const parallel = (g) => (g.tensor_parallel && g.replicas ? `${g.tensor_parallel} × ${g.replicas}` : "–");
  const num = (v, digits = 1) => (v === null || v === undefined ? "–"
    : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits }));
  // A run's length as agents/job_costs.py `duration` says it: minutes under an hour, days past two.
  function duration(hours) {
    if (hours === null || hours === undefined) return "–";
    if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} min`;
    if (hours < 10) return `${hours.toFixed(1)} h`;
    if (hours < 48) return `${hours.toFixed(0)} h`;
    return `${num(hours, 0)} h (${(hours / 24).toFixed(1)} days)`;
  }

  function table(columns, rows, attrs = {}) {
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, text: c.label })));
    const body = rows.map((row) => el("tr", {}, columns.map((c) =>
      el("td", { class: c.num ? "num" : null, text: String(c.value(row) ?? "–") }))));
    // Wide tables scroll inside their own box on a phone instead of stretching the page.
    return el("div", { class: "table-scroll" }, el("table", attrs, el("thead", {}, head), el("tbody", {}, body)));
  }

  // YAML with colours: comments, keys, and quoted or literal values, one span each. Built
  // with text nodes only, so nothing from the server is parsed as HTML.
  function yamlCode(text) {
    const code = el("code", { class: "yaml" });
    const lines = String(text).split("\n");
    lines.forEach((line, i) => {
      const comment = /^(\s*)(#.*)$/.exec(line);
      const pair = /^(\s*(?:- )?)([^:#'"\s][^:#]*?)(:)(\s.*)?$/.exec(line);
      if (comment) code.append(comment[1], el("span", { class: "tok-comment", text: comment[2] }));
      else if (pair) {
        code.append(pair[1], el("span", { class: "tok-key", text: pair[2] }), pair[3]);
        if (pair[4]) code.append(el("span", { class: "tok-value", text: pair[4] }));
      } else code.append(line);
      if (i < lines.length - 1) code.append("\n");
    });
    return code;
  }

  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      // Clipboard API needs a secure context; fall back to a hidden textarea.
      const area = el("textarea", {}, text);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }

  function costChart(cost, perRun = false) {
    const parts = [
      ["Compute", cost.compute_monthly_usd, "#2457d6"],
      ["Storage", cost.storage_monthly_usd, "#12a594"],
      ["Network", cost.network_monthly_usd, "#e0a400"],
    ];
    const max = Math.max(1, ...parts.map((p) => p[1] || 0));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const rowH = 34, labelW = 80, barW = 340, height = parts.length * rowH + 30;
    svg.setAttribute("viewBox", `0 0 ${labelW + barW + 110} ${height}`);
    svg.setAttribute("class", "cost-chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("data-testid", "cost-chart");
    svg.setAttribute("aria-label", perRun ? "Job cost breakdown, one run" : "Monthly cost breakdown");
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    parts.forEach(([label, value, color], i) => {
      const y = 8 + i * rowH;
      const w = Math.max(2, ((value || 0) / max) * barW);
      add("text", { x: 0, y: y + 17 }, label);
      add("rect", { x: labelW, y, width: w, height: 24, rx: 4, fill: color, class: "bar" });
      add("text", { x: labelW + w + 6, y: y + 17 }, money(value));
    });
    add("text", { x: 0, y: height - 4, "font-weight": "600" },
      `Total ${money(cost.total_monthly_usd)} ${perRun ? "for the run, paid once" : "/ month"}`);
    return svg;
  }

  // `options.download` (when given) fetches the plan's files as a zip.
  function plan(p, options = {}) {
    const root = el("div", { class: "plan", "data-testid": "plan" });
    root.append(el("h2", { text: "Deployment plan" }), el("p", { text: p.understanding }));
    for (const w of p.warnings || []) root.append(el("div", { class: "warning", text: w }));
    if (p.sizing) {
      const s = p.sizing;
      root.append(el("h3", { text: "Sizing" }), el("p", {},
        `${s.model_id || "The model"} in ${s.precision}: weights ${num(s.weights_gb)} GiB + KV cache `
        + `${num(s.kv_cache_gb)} GiB + overhead ${num(s.overhead_gb)} GiB = `,
        el("strong", { text: `${num(s.total_vram_gb)} GiB` }),
        `; tensor parallel ${s.tensor_parallel} (${num(s.per_gpu_gb)} GiB per GPU). `
        + "GPU memory is in GiB (2^30 bytes), as GPU vendors and clouds state it."));
    }
    const recs = p.gpu_recommendations || [];
    // A training run's options show the run (hours and cost), as the Markdown plan does.
    const pricedRuns = recs.length > 0 && recs.every((g) => g.run_usd != null && g.run_hours != null);
    // A searched batch keeps its configuration columns and shows a run instead of a month.
    const runs = pricedRuns && !p.configuration;
    if (runs) {
      const job = (p.cost_estimate || {}).job || {};
      root.append(el("h3", { text: "GPU instances (cheapest run first)" }), table([
        { label: "#", value: (g) => recs.indexOf(g) + 1 },
        { label: "Provider", value: (g) => g.provider },
        { label: "Instance", value: (g) => g.instance_type },
        { label: "Region", value: (g) => g.region },
        { label: "GPUs", value: (g) => `${num(g.gpu_count, 2)}× ${g.gpu_model}` },
        { label: "VRAM", num: true, value: (g) => `${num(g.vram_total_gb)} GiB` },
        { label: "$/hour", num: true, value: (g) => money(g.price_hourly_usd) },
        { label: "Run time", num: true, value: (g) => duration(g.run_hours) },
        { label: "Run cost", num: true, value: (g) => money(g.run_usd) },
      ], recs, { class: "gpu-table", "data-testid": "gpu-table" }),
      el("p", { class: "muted small", text: "Run time: the training spread over the instance's GPUs, plus "
        + `${num(job.fixed_hours || 0, 2)} h of start-up, image pull, model download and checkpoint writes; `
        + "run cost = $/hour × run time, paid once." }));
    } else if (recs.length) {
      // What each option deploys (as agents/render.py writes it): searched options each have
      // their own weights, KV cache dtype and TP × replicas; other plans' rows share the sizing's.
      const configured = p.gpu_recommendations.some((g) => g.precision);
      const deploys = configured ? [
        { label: "Weights", value: weights },
        { label: "KV cache", value: (g) => g.kv_cache_dtype || "–" },
        { label: "TP × replicas", value: parallel },
      ] : [];
      root.append(el("h3", { text: "GPU instances (cheapest that fit first)" }), table([
        { label: "#", value: (g) => p.gpu_recommendations.indexOf(g) + 1 },
        { label: "Provider", value: (g) => g.provider },
        { label: "Instance", value: (g) => g.instance_type },
        { label: "Region", value: (g) => g.region },
        { label: "Instances", num: true, value: (g) => g.instances || 1 },
        { label: "GPUs each", value: (g) => `${num(g.gpu_count, 2)}× ${g.gpu_model}` },
        { label: "VRAM each", num: true, value: (g) => `${num(g.vram_total_gb)} GiB` },
        ...deploys,
        { label: "$/hour each", num: true, value: (g) => money(g.price_hourly_usd) },
        ...(pricedRuns ? [
          { label: "Run time", num: true, value: (g) => duration(g.run_hours) },
          { label: "$ a run", num: true, value: (g) => money(g.run_usd) },
        ] : [
          { label: "$/month, all", num: true,
            value: (g) => money(g.price_monthly_usd * (g.instances || 1)) },
        ]),
        { label: "tok/s", num: true, value: (g) => num(g.est_tokens_per_s, 0) },
      ], p.gpu_recommendations, { class: "gpu-table", "data-testid": "gpu-table" }));
      if (pricedRuns) {
        const job = (p.cost_estimate || {}).job || {};
        root.append(el("p", { class: "muted small", text: "Run time: the batch's tokens at the "
          + `option's rate, plus ${num(job.fixed_hours || 0, 2)} h of start-up, image pull and `
          + "model load; $ a run = $/hour × run time, paid on each run." }));
      }
    }
    const rejected = Object.entries(p.rejected_summary || {});
    if (recs.length && rejected.length) {
      root.append(el("p", { class: "muted small",
        text: "Rejected candidates: " + rejected.map(([r, n]) => `${n.toLocaleString()} ${r}`).join(", ") }));
    }
    if ((p.model_recommendations || []).length) {
      const fit = p.model_recommendations.some((m) => m.fit_note);
      root.append(el("h3", { text: "Models" }), table([
        { label: "Model", value: (m) => m.model_id },
        { label: "Licence", value: (m) => m.license },
        { label: "Params (B)", num: true, value: (m) => num(m.params_b) },
        { label: "Task", value: (m) => m.pipeline_tag },
        ...(fit ? [{ label: "On this plan's GPUs", value: (m) => m.fit_note || "–" }] : []),
        { label: "Score", num: true, value: (m) => num(m.score, 2) },
      ], p.model_recommendations, { "data-testid": "model-table" }));
    }
    if (p.serving_engine) {
      const heading = p.serving_engine === "training stack" ? "Training stack" : `Serving engine: ${p.serving_engine}`;
      root.append(el("h3", { text: heading }),
        el("p", { text: p.serving_engine_why || "" }));
    }
    if ((p.kubernetes_stack || []).length) {
      root.append(el("h3", { text: "Kubernetes stack" }), table([
        { label: "Chart", value: (c) => c.chart },
        { label: "Version", value: (c) => c.version },
        { label: "Repository", value: (c) => c.repo },
        { label: "Purpose", value: (c) => c.purpose },
      ], p.kubernetes_stack, { "data-testid": "chart-table" }));
    }
    if ((p.deployment_steps || []).length) {
      root.append(el("h3", { text: "Steps" }),
        el("ol", {}, p.deployment_steps.map((s) => el("li", { text: s }))));
    }
    if (p.cost_estimate) {
      const c = p.cost_estimate;
      const budget = c.within_budget === true ? " (within budget)" : c.within_budget === false ? " (over budget)" : "";
      // A training run is paid once: the same figures as the Markdown's "Job cost" table.
      const perRun = c.period === "run";
      root.append(el("h3", { text: (perRun ? "Job cost (one-off, per run)" : "Monthly cost") + budget }),
        costChart(c, perRun));
    }
    if ((p.tradeoffs || []).length) {
      root.append(el("h3", { text: "Tradeoffs" }), el("ul", {}, p.tradeoffs.map((t) => el("li", { text: t }))));
    }
    if ((p.assumptions || []).length) {
      root.append(el("h3", { text: "Assumptions" }), el("ul", {}, p.assumptions.map((t) => el("li", { text: t }))));
    }
    if ((p.artifacts || []).length) {
      root.append(el("h3", { text: "Artifacts" }));
      if (p.deployment && options.download) {
        const download = el("button", { type: "button", class: "download", "data-testid": "download",
          text: "Download all files (.zip: Helm, kustomize, compose, SkyPilot)" });
        download.addEventListener("click", (ev) => { ev.preventDefault(); options.download(download); });
        root.append(download);
      }
      for (const a of p.artifacts) {
        const copy = el("button", { type: "button", class: "copy", text: "Copy" });
        copy.addEventListener("click", (ev) => { ev.preventDefault(); copyText(a.content, copy); });
        root.append(el("details", { class: "artifact" },
          el("summary", {}, el("span", { class: "name", text: a.filename }),
            el("span", { class: "kind small", text: a.kind }), copy),
          el("pre", {}, yamlCode(a.content))));
      }
    }
    return root;
  }

  // Markdown subset: headings, paragraphs, lists, tables, blockquotes, **bold**, `code`.
  const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const inline = (s) => escapeHtml(s)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");

  function markdown(text) {
    const lines = String(text || "").replace(/\r/g, "").split("\n");
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { i++; continue; }
      if (line.startsWith("```")) {
        const body = [];
        for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
        i++;
        out.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
        continue;
      }
      const details = /^<details><summary>(.*)<\/summary>$/.exec(line.trim());
      if (details) { out.push(`<details class="artifact"><summary>${escapeHtml(details[1])}</summary>`); i++; continue; }
      if (line.trim() === "</details>") { out.push("</details>"); i++; continue; }
      const heading = /^(#{1,4})\s+(.*)$/.exec(line);
      if (heading) { const n = Math.min(heading[1].length + 1, 5); out.push(`<h${n}>${inline(heading[2])}</h${n}>`); i++; continue; }
      if (line.startsWith("|")) {
        const rows = [];
        for (; i < lines.length && lines[i].startsWith("|"); i++) rows.push(lines[i]);
        const cells = (r) => r.replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
        const body = rows.filter((r) => !/^\|[\s|:-]+\|$/.test(r));
        const [head, ...rest] = body;
        out.push("<div class=\"table-scroll\"><table><thead><tr>" + cells(head).map((c) => `<th>${inline(c)}</th>`).join("")
          + "</tr></thead><tbody>" + rest.map((r) => "<tr>" + cells(r).map((c) => `<td>${inline(c)}</td>`).join("") + "</tr>").join("")
          + "</tbody></table></div>");
        continue;
      }
      const list = /^(\s*)(\d+\.|[-*])\s+/;
      if (list.test(line)) {
        const ordered = /^\s*\d+\./.test(line);
        const items = [];
        for (; i < lines.length && list.test(lines[i]); i++) items.push(`<li>${inline(lines[i].replace(list, ""))}</li>`);
        out.push(ordered ? `<ol>${items.join("")}</ol>` : `<ul>${items.join("")}</ul>`);
        continue;
      }
      if (line.startsWith(">")) {
        const quote = [];
        for (; i < lines.length && lines[i].startsWith(">"); i++) quote.push(lines[i].replace(/^>\s?/, ""));
        out.push(`<blockquote>${inline(quote.join(" "))}</blockquote>`);
        continue;
      }
      const para = [];
      for (; i < lines.length && lines[i].trim() && !/^(#|\||>|```|<\/?details|\s*(\d+\.|[-*])\s)/.test(lines[i]); i++) para.push(lines[i]);
      if (!para.length) { para.push(line); i++; }
      out.push(`<p>${inline(para.join(" "))}</p>`);
    }
    const node = el("div", { class: "markdown" });
    node.innerHTML = out.join("\n"); // every fragment above was escaped first
    return node;
  }

  return { el, plan, markdown, money };
})();
