// Draws a resident's service use per month by kind. The numbers come from the page through
// json_script and are also in the tables beside the chart, so nothing depends on this script.
import "../vendor/chartjs/chart.umd.min.js";

const { Chart } = globalThis;

// NHS identity colours, one per kind of service, in the order the server lists the kinds.
const COLOURS = {
  primary_care_appointment: "#005eb8",
  ae_attendance: "#d5281b",
  emergency_admission: "#7c2855",
  ambulance_callout: "#ffb81c",
  nhs_111_call: "#41b6e6",
  social_care_contact: "#007f3b",
  community_health_contact: "#330072",
  mental_health_contact: "#ae2573",
};

// A dashed line before the month the intervention started (or the referral, before a start).
const startLine = {
  id: "startLine",
  afterDatasetsDraw(chart, _args, options) {
    const x = chart.scales.x.getPixelForValue(options.index) - chart.scales.x.width / options.months / 2;
    const { top, bottom } = chart.chartArea;
    const context = chart.ctx;
    context.save();
    context.strokeStyle = "#212b32";
    context.setLineDash([6, 4]);
    context.beginPath();
    context.moveTo(x, top);
    context.lineTo(x, bottom);
    context.stroke();
    context.fillStyle = "#212b32";
    context.font = "14px Arial, sans-serif";
    context.fillText(options.label, x + 4, top + 14);
    context.restore();
  },
};

function draw() {
  const source = document.getElementById("service-use-data");
  const canvas = document.getElementById("service-use-chart");
  if (!source || !canvas || !Chart) return;
  const data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.months,
      datasets: data.series.map((series) => ({
        label: series.label,
        data: series.counts,
        backgroundColor: COLOURS[series.kind] ?? "#768692",
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Contacts" } },
      },
      plugins: {
        legend: { position: "bottom" },
        startLine: { index: data.anchor_index, label: data.anchor_label, months: data.months.length },
      },
    },
    plugins: [startLine],
  });
}

draw();
