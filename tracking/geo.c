/* Great-circle distance (see geo.h). */
#include "tracking/geo.h"

#include <math.h>

#define EARTH_RADIUS_M 6371008.8

static double rad(double deg)
{
    return deg * (M_PI / 180.0);
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double dlat = rad(lat2 - lat1);
    double dlon = rad(lon2 - lon1);
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(rad(lat1)) * cos(rad(lat2)) * sin(dlon / 2) * sin(dlon / 2);
    /* Rounding can leave a just above 1 for antipodes, and sqrt(1 - a) would be NaN. */
    a = fmin(a, 1.0);
    return 2 * EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}
