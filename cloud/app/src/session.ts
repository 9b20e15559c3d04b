/** Who is signed in, and what the navigation offers them (the API still checks every request). */
import { get, post } from './api.ts';

export interface Me {
  id: string;
  name: string;
  role: 'operator' | 'installer' | 'aggregator' | 'participant' | 'viewer' | 'monitor';
  scopes: { kind: string; target?: string }[];
  permissions?: string[];
}

export const fetchMe = () => get<Me>('/me');
export const signIn = (body: { user: string; password: string } | { token: string }) =>
  post<{ user: Me; csrf: string; expiresAt: number }>('/auth/login', body);
export const signOut = () => post<unknown>('/auth/logout');

export interface NavItem {
  view: string;
  label: string;
  roles: Me['role'][];
}

/** Views each role may open. Participants see their own sites, bids and statements only. */
export const NAV: NavItem[] = [
  { view: 'fleet', label: 'Fleet', roles: ['operator', 'installer', 'aggregator', 'participant', 'viewer'] },
  { view: 'vpps', label: 'VPPs', roles: ['operator', 'aggregator'] },
  { view: 'forecasts', label: 'Forecasts', roles: ['operator', 'aggregator', 'participant', 'viewer'] },
  { view: 'network', label: 'Network', roles: ['operator'] },
  { view: 'market', label: 'Market', roles: ['operator', 'aggregator', 'participant'] },
  { view: 'audit', label: 'Audit', roles: ['operator'] },
  { view: 'users', label: 'Users', roles: ['operator'] },
];

export const navFor = (me: Me) => NAV.filter((n) => n.roles.includes(me.role));
