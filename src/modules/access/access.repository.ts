import { Injectable } from '@nestjs/common';
import type { DbExecutor } from '../../platform/database/database.service.js';
import type { TeamRole } from '../../platform/database/database.types.js';

@Injectable()
export class AccessRepository {
  /** The caller's role in a team, if a member; served by the (team_id, user_id) primary key. */
  async teamRole(db: DbExecutor, teamId: string, userId: string): Promise<TeamRole | undefined> {
    const row = await db.selectFrom('team_memberships').select('role').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
    return row?.role;
  }
}
