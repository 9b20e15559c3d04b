/**
 * The market's clock units (epoch ms): day-ahead hours, the 5-minute real-time interval, the day.
 * Every interval start is a multiple of its unit in UTC.
 */

export const HOUR_MS = 3_600_000;
export const RT_INTERVAL_MS = 300_000;
export const DAY_MS = 86_400_000;
