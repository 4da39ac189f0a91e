import { Injectable } from '@nestjs/common';

export type LifecyclePhase = 'starting' | 'serving' | 'draining' | 'stopped';

/** Tracks whether this instance should receive traffic; readiness reads it. */
@Injectable()
export class LifecycleService {
  private current: LifecyclePhase = 'starting';

  get phase(): LifecyclePhase {
    return this.current;
  }

  markServing(): void {
    this.current = 'serving';
  }

  /** First step of shutdown: readiness fails so load balancers stop sending new requests. */
  markDraining(): void {
    if (this.current !== 'stopped') this.current = 'draining';
  }

  markStopped(): void {
    this.current = 'stopped';
  }
}
