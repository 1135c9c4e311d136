// Small behaviours that need script; every page works without it (times are rendered server-side).
(() => {
  "use strict";

  document.addEventListener("click", (event) => {
    const menu = document.querySelector("details.usermenu[open]");
    if (menu && !menu.contains(event.target)) menu.removeAttribute("open");
  });

  // Durations in the page's own words (the countdown and elapsed macros carry them in data-words,
  // in the reader's language): "1 hari 2 jam", "2 jam 5 mnt", "4 mnt 10 dtk" - what the server writes.
  const fallbackWords = { day: "day", days: "days", hour: "h", minute: "min", second: "s", left: "left", overdue: "overdue", running: "running" };
  const wordsOf = (el) => {
    if (!el.dataset.words) return fallbackWords;
    try {
      return Object.assign({}, fallbackWords, JSON.parse(el.dataset.words));
    } catch (error) {
      return fallbackWords;
    }
  };
  const span = (ms, w) => {
    const total = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (d) return `${d} ${d === 1 ? w.day : w.days}` + (h ? ` ${h} ${w.hour}` : "");
    if (h) return `${h} ${w.hour}` + (m ? ` ${m} ${w.minute}` : "");
    return `${m} ${w.minute} ${s} ${w.second}`;
  };

  // Live countdowns to deadlines and clocks since a start, from ISO times in data attributes.
  const tick = () => {
    const now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach((el) => {
      const w = wordsOf(el);
      const left = Date.parse(el.dataset.deadline) - now;
      el.textContent = left >= 0 ? `${span(left, w)} ${w.left}` : `${span(left, w)} ${w.overdue}`;
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 10 * 60 * 1000);
    });
    document.querySelectorAll("[data-since]").forEach((el) => {
      const w = wordsOf(el);
      el.textContent = `${span(now - Date.parse(el.dataset.since), w)} ${w.running}`;
    });
  };
  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);

  // Do not replace a live panel while someone is typing in it.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const panel = event.detail.elt;
    const active = document.activeElement;
    if (panel.id === "live" && active && panel.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      event.preventDefault();
    }
  });
})();
