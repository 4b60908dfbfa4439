/* Distances on the Earth for the per-frame path (no database): great-circle distance and
 * the estimated time to a stop along a route. */
#pragma once

/* Metres between two WGS 84 points (haversine on a sphere of the mean radius: within 0.5 %,
 * plenty for speed checks and arrival radii). */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);
