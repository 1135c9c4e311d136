// Small behaviours that need script; every page works without it (times are rendered server-side).
(() => {
  "use strict";

  document.addEventListener("click", (event) => {
    const menu = document.querySelector("details.usermenu[open]");
    if (menu && !menu.contains(event.target)) menu.removeAttribute("open");
  });

  const pad = (n) => String(n).padStart(2, "0");
  const span = (ms) => {
    const total = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (d) return `${d}d ${pad(h)}h ${pad(m)}m`;
    if (h) return `${h}h ${pad(m)}m ${pad(s)}s`;
    return `${m}m ${pad(s)}s`;
  };
  const lang = document.documentElement.lang;
  const words = lang === "id" ? { left: "lagi", over: "terlambat", ago: "berjalan" } : { left: "left", over: "overdue", ago: "running" };

  // Live countdowns to deadlines and clocks since a start, from ISO times in data attributes.
  const tick = () => {
    const now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach((el) => {
      const left = Date.parse(el.dataset.deadline) - now;
      el.textContent = left >= 0 ? `${span(left)} ${words.left}` : `${span(left)} ${words.over}`;
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 10 * 60 * 1000);
    });
    document.querySelectorAll("[data-since]").forEach((el) => {
      el.textContent = `${span(now - Date.parse(el.dataset.since))} ${words.ago}`;
    });
  };
  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);

  // Do not replace the live panel (polled by #live-poll) while someone is typing in it.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const panel = document.getElementById("live");
    const active = document.activeElement;
    if (event.detail.elt.id === "live-poll" && panel && active && panel.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      event.preventDefault();
    }
  });

  // A refused action answers 422 with the panel and the problem next to the item: show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
