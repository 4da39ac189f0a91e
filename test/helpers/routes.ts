import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { routeAccessOf, type RouteAccess } from '../../src/platform/security/authorization.decorators.js';

/** One REST handler of the running app and the access decision it declares. */
export interface RestRoute {
  method: string;
  /** Fastify's form: `/users/:id`. */
  path: string;
  handler: string;
  access: RouteAccess | undefined;
}

function joinPath(...parts: Array<string | string[] | undefined>): string {
  const segments = parts.flatMap((part) => (Array.isArray(part) ? part : [part ?? ''])).flatMap((part) => part.split('/')).filter(Boolean);
  return `/${segments.join('/')}`;
}

/**
 * Every REST handler Nest registered: each controller of each module, each method carrying a
 * route decorator, with the decision the global guard will read for it.
 */
export function restRoutes(app: NestFastifyApplication): RestRoute[] {
  const reflector = app.get(Reflector);
  const scanner = new MetadataScanner();
  const routes: RestRoute[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype;
      if (typeof controller !== 'function') continue;
      const prototype = controller.prototype as Record<string, unknown>;
      const base = Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (path === undefined || method === undefined) continue;
        routes.push({
          method: RequestMethod[method],
          path: joinPath(base, path),
          handler: `${controller.name}.${name}`,
          access: routeAccessOf(reflector, handler, controller),
        });
      }
    }
  }
  return routes.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
}
