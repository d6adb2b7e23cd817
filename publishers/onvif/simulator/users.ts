/**
 * The camera's accounts, with the rules ONVIF devices enforce on CreateUsers/SetUsers/DeleteUsers.
 */
import { Faults } from './soap.js';
import type { SimulatedUser, UserLevel } from './types.js';

const LEVELS: readonly UserLevel[] = ['Administrator', 'Operator', 'User', 'Anonymous', 'Extended'];
const RANK: Record<UserLevel, number> = { Anonymous: 0, User: 1, Extended: 1, Operator: 2, Administrator: 3 };
const MAX_USERS = 32;
const MAX_NAME = 32;
const MAX_PASSWORD = 64;

export function isUserLevel(s: string): s is UserLevel {
  return (LEVELS as readonly string[]).includes(s);
}

/** Whether `level` may do what `required` may. */
export function levelAtLeast(level: UserLevel, required: UserLevel): boolean {
  return RANK[level] >= RANK[required];
}

export class UserStore {
  private readonly users = new Map<string, SimulatedUser>();

  /** `fixed` is the built-in administrator: it cannot be deleted, as on most firmware. */
  constructor(
    private readonly fixed: string,
    initial: readonly SimulatedUser[],
  ) {
    for (const u of initial) this.users.set(u.username, { ...u });
  }

  list(): SimulatedUser[] {
    return [...this.users.values()].map((u) => ({ ...u }));
  }

  get(username: string): SimulatedUser | undefined {
    return this.users.get(username);
  }

  /** All or nothing, like the ONVIF operation. */
  create(users: readonly { username: string; password: string; userLevel: string }[]): void {
    const names = new Set<string>();
    for (const u of users) {
      if (!u.username) throw Faults.invalidArg('UsernameMissing', 'Username missing');
      if (this.users.has(u.username) || names.has(u.username)) {
        throw Faults.prohibited('UsernameClash', 'Username already exists');
      }
      if (u.username.length > MAX_NAME) throw Faults.prohibited('UsernameTooLong', 'Username too long');
      if (u.password.length > MAX_PASSWORD) throw Faults.prohibited('PasswordTooLong', 'Password too long');
      if (!isUserLevel(u.userLevel)) throw Faults.invalidArg('InvalidArgVal', `Unknown user level ${u.userLevel}`);
      if (u.userLevel === 'Anonymous') throw Faults.prohibited('AnonymousNotAllowed', 'Anonymous user not allowed');
      names.add(u.username);
    }
    if (this.users.size + users.length > MAX_USERS) throw Faults.receiverAction('TooManyUsers', 'Too many users');
    for (const u of users) {
      this.users.set(u.username, { username: u.username, password: u.password, userLevel: u.userLevel as UserLevel });
    }
  }

  set(users: readonly { username: string; password: string | undefined; userLevel: string }[]): void {
    for (const u of users) {
      if (!this.users.has(u.username)) throw Faults.invalidArg('UsernameMissing', 'Username not recognized');
      if (!isUserLevel(u.userLevel)) throw Faults.invalidArg('InvalidArgVal', `Unknown user level ${u.userLevel}`);
      if (u.username === this.fixed && u.userLevel !== 'Administrator') {
        throw Faults.invalidArg('FixedUser', 'Username is fixed');
      }
    }
    for (const u of users) {
      const cur = this.users.get(u.username);
      if (!cur) continue;
      this.users.set(u.username, {
        username: u.username,
        password: u.password ?? cur.password,
        userLevel: u.userLevel as UserLevel,
      });
    }
  }

  delete(usernames: readonly string[]): void {
    for (const name of usernames) {
      if (!this.users.has(name)) throw Faults.invalidArg('UsernameMissing', 'Username not recognized');
      if (name === this.fixed) throw Faults.invalidArg('FixedUser', 'Username is fixed');
    }
    for (const name of usernames) this.users.delete(name);
  }
}
