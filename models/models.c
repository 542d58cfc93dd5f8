/* The registry of model builders by name (filled in as builders land). */
#include "models/models.h"
