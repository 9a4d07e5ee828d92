"""Write rerankit's arithmetic word-problem exemplar pool (rerankit/rerankers/data/arith_exemplars.jsonl).

The problems are written by the rerankit project: 20 problem types (shopping, change, speed, sharing, remainders,
discounts, savings, ages, perimeter, area cost, work rate, fractions, ratios, averages, unit price, durations,
tanks, profit, boxes, temperature), four instances each with different numbers, names and objects. Every
solution is a short worked chain of steps and the answer is computed, not typed, so it is always right.
Deterministic (seeded): ``python eval/make_arith_exemplars.py`` reproduces the shipped file byte for byte.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "rerankit" / "rerankers" / "data" / "arith_exemplars.jsonl"
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jamal", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara"]


def shopping(r, n):
    a, p, q = r.randint(3, 9), r.randint(2, 12), r.randint(1, 6)
    item = r.choice(["notebooks", "apples", "comic books", "candles"])
    return (f"{n} buys {a} {item} at ${p} each and a pen for ${q}. How much does {n} spend in all?",
            f"The {item} cost {a} x {p} = {a * p} dollars. Adding the pen: {a * p} + {q} = {a * p + q} dollars.",
            a * p + q)


def change(r, n):
    a, p = r.randint(2, 6), r.randint(3, 9)
    bill = 50 if a * p < 50 else 100
    return (f"{n} pays with a ${bill} bill for {a} tickets that cost ${p} each. How much change does {n} get?",
            f"The tickets cost {a} x {p} = {a * p} dollars. The change is {bill} - {a * p} = {bill - a * p} dollars.",
            bill - a * p)


def speed(r, n):
    s, h = r.choice([40, 45, 50, 60, 72, 80]), r.randint(2, 6)
    return (f"{n} drives at {s} km per hour for {h} hours. How many kilometres does {n} drive?",
            f"Distance is speed times time: {s} x {h} = {s * h} km.", s * h)


def travel_time(r, n):
    s, h = r.choice([15, 20, 30, 45, 60]), r.randint(2, 8)
    return (f"A train covers {s * h} km at a steady {s} km per hour. How many hours does the trip take?",
            f"Time is distance divided by speed: {s * h} / {s} = {h} hours.", h)


def sharing(r, n):
    k, each = r.randint(3, 8), r.randint(4, 12)
    thing = r.choice(["cookies", "stickers", "marbles", "grapes"])
    return (f"{n} shares {k * each} {thing} equally among {k} friends. How many {thing} does each friend get?",
            f"Each friend gets {k * each} / {k} = {each} {thing}.", each)


def remainder(r, n):
    k = r.choice([6, 8, 10, 12])
    total = k * r.randint(4, 9) + r.randint(1, k - 1)
    return (f"A farm packs {total} eggs into cartons of {k}. After filling as many full cartons as possible, how "
            "many eggs are left over?",
            f"{total} / {k} = {total // k} full cartons, which hold {total // k} x {k} = {total // k * k} eggs. "
            f"Left over: {total} - {total // k * k} = {total % k} eggs.", total % k)


def discount(r, n):
    d = r.choice([10, 20, 25, 50])
    p = r.choice([40, 60, 80, 120, 200])
    off = p * d // 100
    return (f"A jacket costs ${p}. It is on sale for {d}% off. What is the sale price?",
            f"The discount is {d}% of {p} = {off} dollars. The sale price is {p} - {off} = {p - off} dollars.",
            p - off)


def savings(r, n):
    a, w, b = r.randint(5, 20), r.randint(4, 10), r.randint(10, 30)
    return (f"{n} saves ${a} every week for {w} weeks, then spends ${b} on a game. How much money is left?",
            f"Savings: {a} x {w} = {a * w} dollars. After the game: {a * w} - {b} = {a * w - b} dollars.",
            a * w - b)


def ages(r, n):
    a, b, c = r.randint(6, 15), r.randint(2, 9), r.randint(2, 10)
    return (f"{n} is {a} years old and {n}'s brother is {b} years older. What will the sum of their ages be in "
            f"{c} years?",
            f"The brother is {a} + {b} = {a + b}. In {c} years they will be {a + c} and {a + b + c}, so the sum is "
            f"{a + c} + {a + b + c} = {2 * a + b + 2 * c}.", 2 * a + b + 2 * c)


def perimeter(r, n):
    ln, w = r.randint(5, 20), r.randint(3, 12)
    return (f"A rectangular garden is {ln} m long and {w} m wide. How many metres of fence go around it?",
            f"Perimeter = 2 x ({ln} + {w}) = 2 x {ln + w} = {2 * (ln + w)} m.", 2 * (ln + w))


def area_cost(r, n):
    ln, w, c = r.randint(3, 9), r.randint(2, 8), r.randint(2, 7)
    return (f"A room is {ln} m by {w} m. Floor tiles cost ${c} per square metre. How much do the tiles cost?",
            f"Area = {ln} x {w} = {ln * w} square metres. Cost = {ln * w} x {c} = {ln * w * c} dollars.",
            ln * w * c)


def work_rate(r, n):
    a, b, h = r.randint(2, 6), r.randint(3, 9), r.randint(2, 8)
    return (f"{a} workers each make {b} toys per hour. How many toys do they make in {h} hours?",
            f"Per hour they make {a} x {b} = {a * b} toys. In {h} hours: {a * b} x {h} = {a * b * h} toys.",
            a * b * h)


def fractions(r, n):
    k = r.choice([3, 4, 5, 6])
    total = k * r.randint(5, 12)
    walk = total // k
    return (f"A class has {total} students. One {['', '', '', 'third', 'quarter', 'fifth', 'sixth'][k]} of them "
            "walk to school and the rest take the bus. How many take the bus?",
            f"Walkers: {total} / {k} = {walk}. Bus riders: {total} - {walk} = {total - walk}.", total - walk)


def ratio(r, n):
    a, b, m = r.randint(1, 5), r.randint(1, 5), r.randint(3, 8)
    total = (a + b) * m
    return (f"The ratio of boys to girls in a club is {a}:{b}. There are {total} members. How many are girls?",
            f"There are {a} + {b} = {a + b} parts, each worth {total} / {a + b} = {m}. Girls: {b} x {m} = {b * m}.",
            b * m)


def average(r, n):
    xs = [r.randint(60, 100) for _ in range(2)]
    third = 3 * r.randint(70, 95) - sum(xs)
    if not 40 <= third <= 100:
        third = 240 - sum(xs) if 40 <= 240 - sum(xs) <= 100 else 270 - sum(xs)
    xs.append(third)
    mean = sum(xs) // 3
    return (f"{n} scored {xs[0]}, {xs[1]} and {xs[2]} on three tests. What is the average score?",
            f"The total is {xs[0]} + {xs[1]} + {xs[2]} = {sum(xs)}. The average is {sum(xs)} / 3 = {mean}.", mean)


def unit_price(r, n):
    a, unit, k = r.choice([4, 5, 6, 10]), r.randint(1, 4), r.randint(7, 15)
    return (f"A pack of {a} pencils costs ${a * unit}. At the same price per pencil, how much do {k} pencils cost?",
            f"One pencil costs {a * unit} / {a} = {unit} dollars. {k} pencils cost {k} x {unit} = {k * unit} dollars.",
            k * unit)


def durations(r, n):
    m = r.choice([20, 30, 40, 45])
    a = r.choice([x for x in range(2, 13) if x * m % 60 == 0])
    return (f"{n} bakes {a} batches of bread, one after another, and each batch takes {m} minutes. How many hours "
            "does the baking take?",
            f"Total time: {a} x {m} = {a * m} minutes, which is {a * m} / 60 = {a * m // 60} hours.", a * m // 60)


def tank(r, n):
    c, u, d = r.choice([200, 300, 500]), r.randint(10, 25), r.randint(3, 7)
    add = r.randint(20, 60)
    left = c - u * d + add
    return (f"A water tank holds {c} litres. A family uses {u} litres a day for {d} days, then adds {add} litres. "
            "How many litres are in the tank now?",
            f"Used: {u} x {d} = {u * d} litres, leaving {c} - {u * d} = {c - u * d}. After adding: {c - u * d} + "
            f"{add} = {left} litres.", left)


def profit(r, n):
    k, c = r.randint(5, 30), r.randint(2, 9)
    s = c + r.randint(1, 6)
    return (f"{n} buys {k} mugs at ${c} each and sells all of them at ${s} each. What is the profit?",
            f"Profit per mug: {s} - {c} = {s - c} dollars. Total profit: {k} x {s - c} = {k * (s - c)} dollars.",
            k * (s - c))


def boxes(r, n):
    b, k = r.randint(3, 8), r.choice([8, 12, 16, 24])
    g = r.randint(5, b * k // 2)
    return (f"{n} has {b} boxes of {k} crayons and gives away {g} crayons. How many crayons are left?",
            f"Crayons: {b} x {k} = {b * k}. Left: {b * k} - {g} = {b * k - g}.", b * k - g)


TYPES = [shopping, change, speed, travel_time, sharing, remainder, discount, savings, ages, perimeter, area_cost,
         work_rate, fractions, ratio, average, unit_price, durations, tank, profit, boxes]


def main() -> None:
    rng = random.Random(20240611)
    rows = []
    for _rep in range(4):
        for t in TYPES:
            name = rng.choice(NAMES)
            question, solution, answer = t(rng, name)
            rows.append({"id": f"arith-{len(rows) + 1:03d}", "type": t.__name__, "question": question,
                         "solution": f"{solution} The answer is {answer}.", "answer": str(answer)})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} exemplars to {OUT}")


if __name__ == "__main__":
    main()
