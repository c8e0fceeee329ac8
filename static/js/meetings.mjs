// The meeting pages' enhancements. Each page works without them: the up/down buttons reorder
// the agenda, the server renders the time used, and the print view prints from the browser menu.

const htmx = window.htmx;

// The elements matching `selector` in newly loaded content: the root itself, or inside it.
function within(root, selector) {
  return root.matches?.(selector) ? [root] : [...root.querySelectorAll(selector)];
}
// htmx settles "style" by re-setting the old element's style attribute, which a strict CSP
// refuses; these pages never rely on that, so settle the other attributes only.
htmx.config.attributesToSettle = ["class", "width", "height"];

// --- Drag-and-drop reordering (SortableJS, loaded as a classic script before this module) ---
function setUpSortable(root) {
  if (!window.Sortable) return;
  for (const list of within(root, "[data-sortable]")) {
    if (list.dataset.sortableReady) continue;
    list.dataset.sortableReady = "true";
    window.Sortable.create(list, {
      handle: ".app-drag-handle",
      // Pointer events rather than native drag and drop: the same on touch screens, and testable.
      forceFallback: true,
      draggable: "[data-item-id]",
      animation: 150,
      onEnd(event) {
        // Sortable animates with inline styles. Left on the items, htmx would copy them onto the
        // swapped-in items with setAttribute("style"), which the Content Security Policy refuses.
        for (const item of list.querySelectorAll("[data-item-id]")) item.removeAttribute("style");
        if (event.oldIndex === event.newIndex) return;
        const order = [...list.querySelectorAll("[data-item-id]")].map((item) => item.dataset.itemId).join(",");
        // The response is the whole agenda region: positions, totals and suggestions stay true.
        htmx.ajax("POST", list.dataset.reorderUrl, { source: list, target: "#agenda", swap: "outerHTML", values: { order } });
      },
    });
  }
}

// --- The per-item clock on the meeting screen ---
// The server stores when the clock started and the seconds already used; the page only counts.
function secondsOn(clock) {
  const used = Number(clock.dataset.secondsUsed || 0);
  const since = clock.dataset.runningSince;
  if (!since) return used;
  const serverNow = Date.now() + Number(clock.dataset.offset || 0);
  return used + Math.max(0, Math.floor((serverNow - Date.parse(since)) / 1000));
}

function formatSeconds(total) {
  const minutes = Math.floor(total / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

function showClock(clock) {
  const total = secondsOn(clock);
  clock.textContent = formatSeconds(total);
  clock.classList.toggle("app-timer--over", total > Number(clock.dataset.allowedSeconds || Infinity));
}

function setUpClocks(root) {
  const clocks = within(root, "[data-timer]");
  const started = clocks.filter((clock) => clock.dataset.runningSince);
  for (const clock of clocks) {
    // Measure the browser's clock against the server's once, so a skewed laptop counts right.
    if (clock.dataset.serverNow) clock.dataset.offset = String(Date.parse(clock.dataset.serverNow) - Date.now());
    showClock(clock);
  }
  if (started.length && root !== document.body) {
    // Starting one item's clock stops the others on the server: stop their display too.
    for (const other of document.querySelectorAll("[data-timer][data-running-since]")) {
      if (started.includes(other) || !other.dataset.runningSince) continue;
      other.dataset.secondsUsed = String(secondsOn(other));
      other.dataset.runningSince = "";
      showClock(other);
    }
  }
}

function tick() {
  for (const clock of document.querySelectorAll("[data-timer]")) {
    if (clock.dataset.runningSince) showClock(clock);
  }
}

// --- Print view ---
function setUpPrint(root) {
  for (const button of root.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
}

// --- Information packs stay open across swaps ---
// Saving an item's minutes, or another attendee's change arriving, re-renders the region the
// pack is in; a pack the reader had opened would close under them.
let openPacks = new Set();
document.body.addEventListener("htmx:beforeSwap", () => {
  openPacks = new Set([...document.querySelectorAll("details[data-pack][open]")].map((pack) => pack.dataset.pack));
});

function reopenPacks(root) {
  for (const pack of within(root, "details[data-pack]")) {
    if (openPacks.has(pack.dataset.pack)) pack.open = true;
  }
}

htmx.onLoad((root) => {
  reopenPacks(root);
  setUpSortable(root);
  setUpClocks(root);
  setUpPrint(root);
});
setInterval(tick, 1000);
