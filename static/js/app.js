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

  // A refused action's messages (flashes with data-target / data-field, see crisis.http.flash_refusal)
  // go next to what they are about: under the input at fault, else at the top of the item, stage or
  // section acted on. The input (or the item's first control) is marked, described by the message
  // and focused; without script the flash stays at the top with a link to the item.
  const focusable = "button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, a[href]";
  const describe = (control, id) => {
    const ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (!ids.includes(id)) ids.unshift(id);
    control.setAttribute("aria-describedby", ids.join(" "));
  };
  const placeErrors = () => {
    let first = null;
    document.querySelectorAll(".flash[data-target], .flash[data-field]").forEach((flash) => {
      const target = flash.dataset.target ? document.getElementById(flash.dataset.target) : null;
      const name = flash.dataset.field;
      const byName = name ? `[name="${window.CSS && CSS.escape ? CSS.escape(name) : name}"]` : null;
      const field = byName ? (target && target.querySelector(byName)) || document.querySelector(byName) : null;
      if (!field && !target) return;
      const message = document.createElement("p");
      message.className = "placed-error";
      message.id = `${flash.id}-here`;
      message.setAttribute("role", "alert");
      let control;
      let shown = message; // what is scrolled into view: the message with what it is about
      if (field) {
        message.textContent = flash.dataset.message || flash.firstChild.textContent;
        const box = field.closest(".field");
        if (box) {
          box.classList.add("has-error");
          box.appendChild(message);
        } else {
          field.after(message); // a bare input in a small form: right under it
        }
        field.setAttribute("aria-invalid", "true");
        control = field;
      } else {
        // All of an element's messages in one box under its heading, in the order they came.
        let box = target.querySelector(":scope > .placed-errors");
        if (!box) {
          box = document.createElement("div");
          box.className = "placed-errors";
          box.id = `${target.id}-errors`;
          box.setAttribute("role", "alert");
          const heading = target.querySelector(":scope > h2, :scope > h3, :scope > .entry-line");
          if (heading) heading.after(box);
          else target.prepend(box);
        }
        message.removeAttribute("role");
        message.textContent = flash.firstChild.textContent.trim();
        box.appendChild(message);
        shown = box;
        target.classList.add("has-placed-error");
        control = target.querySelector(focusable);
        if (!control) {
          target.setAttribute("tabindex", "-1");
          control = target;
        }
      }
      const closed = control.closest("details:not([open])");
      if (closed) closed.open = true;
      describe(control, field ? message.id : `${target.id}-errors`);
      flash.remove();
      if (!first) first = { control, shown };
    });
    if (!first) return;
    // After the page's own scroll to its #fragment (which would take the focus away again).
    const settle = () =>
      setTimeout(() => {
        first.shown.scrollIntoView({ block: "center" });
        first.control.focus({ preventScroll: true });
      }, 0);
    if (document.readyState === "complete") settle();
    else window.addEventListener("load", settle, { once: true });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", placeErrors);
  else placeErrors();
  document.addEventListener("htmx:afterSwap", placeErrors);

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
