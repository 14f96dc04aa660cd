// Evaluated in /dispatch by test_performance.py: `drivers` positions a second for `seconds`, in ten bursts a
// second, through the function the gps:fleet subscription calls; returns flush times and long animation frames.
async ({ drivers, seconds }) => {
  const stats = window.fxDispatch.stats;
  const firstFlush = stats.flushMs.length;
  const frames0 = stats.frames;
  const long = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) long.push(entry.duration);
  });
  try { observer.observe({ type: "long-animation-frame" }); } catch { /* older browser: none reported */ }
  const perBurst = drivers / 10;
  let burst = 0;
  await new Promise((done) => {
    const timer = setInterval(() => {
      for (let i = 0; i < perBurst; i++) {
        const n = (burst * perBurst + i) % drivers;
        window.fxDispatch.receive({
          data: {
            driver_id: 1000 + n,
            lat: 5.33 + (n % 25) * 0.002 + burst * 1e-5,
            lon: -4.04 + Math.floor(n / 25) * 0.002,
            ts: Date.now() / 1000, accuracy: 5, speed: 9, heading: 90,
          },
        });
      }
      if (++burst >= seconds * 10) { clearInterval(timer); done(); }
    }, 100);
  });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  observer.disconnect();
  return {
    flushMs: stats.flushMs.slice(firstFlush),
    frames: stats.frames - frames0,
    long,
    markers: document.querySelectorAll("#drivers .driver").length,
    longFramesObserved: PerformanceObserver.supportedEntryTypes.includes("long-animation-frame"),
  };
}
