/** The core views registered beside the fleet in app.tsx's VIEWS: a site, the audit log, users and tokens. */
import type { ComponentType } from 'preact';
import type { ViewProps } from './app.tsx';
import './core.css';
import { AuditView } from './views/audit.tsx';
import { SiteView } from './views/site.tsx';
import { UsersView } from './views/users.tsx';

export const CORE_VIEWS: Record<string, ComponentType<ViewProps>> = {
  sites: SiteView,
  audit: AuditView,
  users: UsersView,
};
