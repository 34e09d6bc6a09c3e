/** Peak resident memory of this process so far, in MiB (one decimal). */
export function peakRssMb(): number {
  // maxRSS is in kilobytes (KiB on Linux and macOS).
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}
