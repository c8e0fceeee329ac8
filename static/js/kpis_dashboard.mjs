// Draws the KPI dashboard's trend charts. The numbers come from the page through json_script
// and are also in the tables beside each chart, so nothing depends on this script. Charts are
// drawn again when htmx swaps in new figures after a filter changes. The canvases are found by
// a data attribute, not an id: htmx would copy an old element's attributes (the size Chart.js
// sets as a style) onto a new one with the same id, which the CSP refuses.
import "../vendor/chartjs/chart.umd.min.js";

const { Chart } = globalThis;

// NHS identity colours: the supported residents in blue, the comparator in grey.
const COLOURS = {
  intervention: "#005eb8",
  comparator: "#768692",
  primary_care_appointment: "#005eb8",
  ae_attendance: "#d5281b",
  emergency_admission: "#7c2855",
};
const DASHES = { comparator: [6, 4] };

const charts = [];

function lineChart(canvas, months, series) {
  return new Chart(canvas, {
    type: "line",
    data: {
      labels: months,
      datasets: series.map((line) => ({
        label: line.label,
        data: line.values,
        borderColor: COLOURS[line.key] ?? "#212b32",
        backgroundColor: COLOURS[line.key] ?? "#212b32",
        borderDash: DASHES[line.key] ?? [],
        spanGaps: false,
        tension: 0,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      scales: {
        y: { title: { display: true, text: "Change in contacts (%)" }, ticks: { callback: (value) => `${value}%` } },
        x: { title: { display: true, text: "Month the intervention started" } },
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.formattedValue}%` } },
      },
    },
  });
}

function draw() {
  while (charts.length) charts.pop().destroy();
  const source = document.getElementById("kpi-trend-data");
  if (!source || !Chart) return;
  const trend = JSON.parse(source.textContent);
  const cohorts = document.querySelector("[data-kpi-chart=cohorts]");
  const kinds = document.querySelector("[data-kpi-chart=kinds]");
  if (cohorts) charts.push(lineChart(cohorts, trend.months, trend.cohorts));
  if (kinds) charts.push(lineChart(kinds, trend.months, trend.kinds));
}

draw();
document.body.addEventListener("htmx:afterSettle", (event) => {
  if (event.target.id === "kpi-figures" || event.target.querySelector?.("#kpi-trend-data")) draw();
});
