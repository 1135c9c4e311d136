// Draws the evaluation charts from Chart.js configurations in data-chart attributes (CSP: no inline script).
(() => {
  "use strict";
  const draw = () => {
    if (typeof window.Chart === "undefined") return;
    const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    const ink = dark ? "#e7eaee" : "#1b1f24";
    const palette = ["#0b5cad", "#b54708", "#067647", "#b42318"];
    window.Chart.defaults.color = ink;
    window.Chart.defaults.maintainAspectRatio = false;
    window.Chart.defaults.animation = false;
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      let config;
      try {
        config = JSON.parse(canvas.dataset.chart);
      } catch (error) {
        return;
      }
      config.data.datasets.forEach((dataset, index) => {
        const colour = palette[index % palette.length];
        dataset.borderColor = colour;
        dataset.backgroundColor = config.type === "bar" ? colour + "99" : colour;
        dataset.spanGaps = true;
      });
      // The server gives each chart its title and its y axis (counts: whole-number ticks); here the
      // legend goes under the chart in small boxes, wrapping to more lines on a phone.
      const options = config.options || {};
      const narrow = canvas.clientWidth < 480;
      options.responsive = true;
      options.plugins = Object.assign({}, options.plugins, {
        legend: { position: "bottom", labels: { boxWidth: narrow ? 10 : 24, padding: narrow ? 6 : 10, font: { size: narrow ? 11 : 12 } } },
      });
      if (!options.plugins.title && canvas.getAttribute("aria-label")) {
        options.plugins.title = { display: true, text: canvas.getAttribute("aria-label") };
      }
      options.scales = Object.assign({ x: { ticks: { autoSkip: true, maxRotation: 0 } } }, options.scales);
      config.options = options;
      new window.Chart(canvas, config);
    });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
