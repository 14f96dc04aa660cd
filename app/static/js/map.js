"use strict";
/**
 * A map with no tile server: Web-Mercator projection of lat/lon onto an SVG of width × height pixels,
 * fitted to the points that matter (drivers and locations). Pure functions and one small class: the
 * dispatch page draws; this only converts.
 */

const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;
const MIN_SPAN = 2_000 / EARTH_RADIUS_M; // never zoom closer than ~2 km across (one driver alone)

/** Web-Mercator coordinates in radians: x east, y north. */
export function mercator(lat, lon) {
  const clamped = Math.max(-85, Math.min(85, lat));
  return [lon * RAD, Math.log(Math.tan(Math.PI / 4 + (clamped * RAD) / 2))];
}

export class Projection {
  /** Fit `points` ([{lat, lon}]) into width × height with a margin (a fraction of the span on each side). */
  constructor(points, width, height, margin = 0.15) {
    const xy = points.map((p) => mercator(p.lat, p.lon));
    let [minX, maxX, minY, maxY] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of xy) {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }
    if (!xy.length) [minX, maxX, minY, maxY] = [0, 0, 0, 0];
    const spanX = Math.max(maxX - minX, MIN_SPAN);
    const spanY = Math.max(maxY - minY, MIN_SPAN);
    this.width = width;
    this.height = height;
    this.scale = Math.min(width / (spanX * (1 + 2 * margin)), height / (spanY * (1 + 2 * margin))); // px per radian
    this.cx = (minX + maxX) / 2;
    this.cy = (minY + maxY) / 2;
  }

  /** [px, py] of a position (y grows downwards on screen). */
  toScreen(lat, lon) {
    const [x, y] = mercator(lat, lon);
    return [this.width / 2 + (x - this.cx) * this.scale, this.height / 2 - (y - this.cy) * this.scale];
  }

  toLatLon(px, py) {
    const x = this.cx + (px - this.width / 2) / this.scale;
    const y = this.cy - (py - this.height / 2) / this.scale;
    return [(2 * Math.atan(Math.exp(y)) - Math.PI / 2) / RAD, x / RAD];
  }

  /** Metres on the ground per screen pixel at `lat` (Mercator stretches by 1/cos(lat)). */
  metresPerPixel(lat) { return (EARTH_RADIUS_M * Math.cos(lat * RAD)) / this.scale; }

  /** Whether a position falls inside the drawing, `inset` pixels from the edges. */
  contains(lat, lon, inset = 12) {
    const [px, py] = this.toScreen(lat, lon);
    return px >= inset && py >= inset && px <= this.width - inset && py <= this.height - inset;
  }
}

/** A scale bar of a round length (50 m … 50 km) about `targetPx` long: [metres, pixels, label]. */
export function scaleBar(projection, lat, targetPx = 120) {
  const mpp = projection.metresPerPixel(lat);
  const steps = [50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];
  const metres = [...steps].reverse().find((m) => m / mpp <= targetPx) ?? steps[0];
  return [metres, metres / mpp, metres >= 1000 ? `${metres / 1000} km` : `${metres} m`];
}
