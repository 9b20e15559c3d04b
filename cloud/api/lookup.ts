import type { Registry } from '../storage/registry/registry.ts';
import { UnknownSitesError } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';

/** Registry look-ups that answer 404 (or 400 for a list naming unknown sites), shared by the routers. */

export async function siteOr404(registry: Registry, site: string) {
  const s = await registry.getSite(site);
  if (!s) throw new DomainError('not_found', `unknown site ${site}`);
  return s;
}

export async function groupOr404(registry: Registry, group: string, what = 'group') {
  const g = await registry.getGroup(group);
  if (!g) throw new DomainError('not_found', `unknown ${what} ${group}`);
  return g;
}

/** 400 naming the ids that are not registered sites: a group never creates phantom sites. */
export async function requireKnownSites(registry: Registry, sites: string[]) {
  const unknown = await registry.unknownSites(sites);
  if (unknown.length) throw new DomainError('invalid', new UnknownSitesError(unknown).message);
}
