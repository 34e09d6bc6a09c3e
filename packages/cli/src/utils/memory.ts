/**
 * Peak resident memory of this process so far, in MB (10^6 bytes, one decimal): the unit of every
 * memory figure the CLI prints, as @slimlm/eval-metrics' benchmark reports it.
 */
export function peakRssMb(): number {
  // maxRSS is in kilobytes (KiB on Linux and macOS).
  return Math.round(((process.resourceUsage().maxRSS * 1024) / 1e6) * 10) / 10;
}
